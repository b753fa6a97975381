public import GantryModel

/// Who a connection turned out to be, once the handshake succeeded.
public struct EstablishedPeer: Hashable, Sendable {
    public var role: PeerRole
    public var version: UInt32
    /// Set for agents.
    public var nodeID: NodeID?
    /// For admin peers, what their token allows.
    public var permission: Permission?
    public var software: String
}

/// The tokens the server accepts. Agents prove the join token; control clients prove the
/// admin token (full access) or the read-only token.
public struct Credentials: Sendable, Hashable {
    public var join: Secret
    public var admin: Secret
    public var readOnly: Secret?

    public init(join: Secret, admin: Secret, readOnly: Secret? = nil) {
        self.join = join
        self.admin = admin
        self.readOnly = readOnly
    }
}

/// The server side of the handshake as a pure state machine: Hello → Challenge → Auth →
/// Welcome, or a Reject naming the problem. The shell supplies the nonce and the clock
/// (the 5 s deadline), sends what it is told and closes on `.reject`.
public struct ServerHandshake: Sendable {
    public enum Action: Hashable, Sendable {
        /// Send this Challenge and wait for Auth.
        case challenge(Challenge)
        /// Send Reject and close the connection.
        case reject(Reject)
        /// Authenticated: send Welcome and start serving.
        case established(EstablishedPeer)
    }

    enum State: Sendable {
        case awaitingHello
        case awaitingAuth(hello: Hello, role: PeerRole, version: UInt32)
        case finished
    }

    private var state: State = .awaitingHello
    private let nonce: [UInt8]
    private let serverID: String
    private let minVersion: UInt32
    private let maxVersion: UInt32

    public init(nonce: [UInt8], serverID: String, minVersion: UInt32 = ProtocolVersion.minSupported, maxVersion: UInt32 = ProtocolVersion.current) {
        self.nonce = nonce
        self.serverID = serverID
        self.minVersion = minVersion
        self.maxVersion = maxVersion
    }

    public var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    public mutating func receive(_ message: WireMessage, credentials: Credentials) -> Action {
        switch state {
        case .finished:
            return fail(.unexpectedMessage, "the handshake is already over")
        case .awaitingHello:
            guard case .hello(let hello) = message else {
                return fail(.handshakeRequired, "expected Hello as the first frame, got \(message.kind)")
            }
            guard let version = ProtocolVersion.negotiate(clientMin: hello.minVersion, clientMax: hello.maxVersion, serverMin: minVersion, serverMax: maxVersion) else {
                state = .finished
                return .reject(Reject(
                    GantryError(.unsupportedVersion, "client speaks protocol versions \(hello.minVersion)...\(hello.maxVersion); this server speaks \(minVersion)...\(maxVersion)"),
                    minVersion: minVersion, maxVersion: maxVersion))
            }
            guard let role = hello.role else {
                return fail(.badRole, "Hello names no known role (expected agent or admin)")
            }
            if role == .agent, NodeID(hello.nodeID) == nil {
                return fail(.badHello, "node id '\(hello.nodeID.prefix(80))' is not valid: use 1-63 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit")
            }
            state = .awaitingAuth(hello: hello, role: role, version: version)
            return .challenge(Challenge(version: version, nonce: nonce, serverID: serverID))
        case .awaitingAuth(let hello, let role, let version):
            guard case .auth(let mac) = message else {
                return fail(.handshakeRequired, "expected Auth after Challenge, got \(message.kind)")
            }
            guard !mac.isEmpty else {
                return fail(.authFailed, "missing token: Auth carries no MAC")
            }
            let nodeID = role == .agent ? hello.nodeID : ""
            func proves(_ secret: Secret) -> Bool {
                HandshakeAuth.verify(mac, token: secret, role: role, nodeID: nodeID, nonce: nonce)
            }
            switch role {
            case .agent:
                guard proves(credentials.join) else {
                    return fail(.authFailed, "wrong token: the MAC does not match the join token")
                }
                state = .finished
                return .established(EstablishedPeer(role: .agent, version: version, nodeID: NodeID(hello.nodeID), permission: nil, software: hello.software))
            case .admin:
                // Check both tokens whatever the outcome, so timing does not tell which matched.
                let isAdmin = proves(credentials.admin)
                let isReadOnly = credentials.readOnly.map(proves) ?? false
                guard isAdmin || isReadOnly else {
                    return fail(.authFailed, "wrong token: the MAC does not match the admin token")
                }
                state = .finished
                return .established(EstablishedPeer(role: .admin, version: version, nodeID: nil, permission: isAdmin ? .admin : .readOnly, software: hello.software))
            }
        }
    }

    private mutating func fail(_ code: ErrorCode, _ message: String) -> Action {
        state = .finished
        return .reject(Reject(GantryError(code, message)))
    }
}

/// The client side: send Hello, answer the Challenge, take the Welcome.
public struct ClientHandshake: Sendable {
    public enum Action: Hashable, Sendable {
        case send(WireMessage)
        case established(Welcome)
        case failed(GantryError)
        /// A standby answered: the leader is elsewhere.
        case redirect(NotLeaderError)
    }

    private let role: PeerRole
    private let nodeID: String
    private let token: Secret?
    private let software: String
    private var challenged = false

    public init(role: PeerRole, nodeID: String = "", token: Secret?, software: String) {
        self.role = role
        self.nodeID = nodeID
        self.token = token
        self.software = software
    }

    public var hello: WireMessage {
        .hello(Hello(role: role, nodeID: nodeID, software: software))
    }

    public mutating func receive(_ message: WireMessage) -> Action {
        switch message {
        case .challenge(let c) where !challenged:
            guard (ProtocolVersion.minSupported...ProtocolVersion.current).contains(c.version) else {
                return .failed(GantryError(.unsupportedVersion, "server chose protocol version \(c.version), which this client does not speak"))
            }
            challenged = true
            let mac = token.map { HandshakeAuth.mac(token: $0, role: role, nodeID: nodeID, nonce: c.nonce) } ?? []
            return .send(.auth(mac: mac))
        case .welcome(let w) where challenged:
            return .established(w)
        case .reject(let r):
            return .failed(r.error)
        case .error(let e, _):
            return .failed(e)
        case .notLeader(let address, let epoch, let text):
            return .redirect(NotLeaderError(leaderAddress: address, epoch: epoch, message: text))
        default:
            return .failed(GantryError(.unexpectedMessage, "unexpected \(message.kind) during the handshake"))
        }
    }
}
