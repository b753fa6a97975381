import GantryModel
import GantryWire
import Testing

@Suite("Handshake state machines")
struct HandshakeTests {
    let credentials = Credentials(join: Secret("join-secret")!, admin: Secret("admin-secret\n")!, readOnly: Secret("reader")!)
    let nonce = Array(repeating: UInt8(9), count: 32)

    func server() -> ServerHandshake { ServerHandshake(nonce: nonce, serverID: "test") }

    /// Runs a client and a server against each other.
    func run(_ client: inout ClientHandshake, _ server: inout ServerHandshake) -> (ServerHandshake.Action?, ClientHandshake.Action?) {
        var serverAction = server.receive(client.hello, credentials: credentials)
        guard case .challenge(let c) = serverAction else { return (serverAction, nil) }
        let clientAction = client.receive(.challenge(c))
        guard case .send(let auth) = clientAction else { return (serverAction, clientAction) }
        serverAction = server.receive(auth, credentials: credentials)
        return (serverAction, clientAction)
    }

    @Test("an agent with the join token is established with its node id")
    func agentOK() {
        var client = ClientHandshake(role: .agent, nodeID: "gpu-1", token: Secret("join-secret"), software: "t")
        var s = server()
        let (action, _) = run(&client, &s)
        guard case .established(let peer) = action else { Issue.record("\(String(describing: action))"); return }
        #expect(peer.role == .agent)
        #expect(peer.nodeID == NodeID("gpu-1"))
    }

    @Test("admin and read-only tokens give their permissions; whitespace around a token is ignored")
    func adminPermissions() {
        for (token, permission) in [("admin-secret", Permission.admin), ("  reader \n", .readOnly)] {
            var client = ClientHandshake(role: .admin, token: Secret(token), software: "t")
            var s = server()
            let (action, _) = run(&client, &s)
            guard case .established(let peer) = action else { Issue.record("\(String(describing: action))"); continue }
            #expect(peer.permission == permission)
        }
    }

    @Test("a wrong token is rejected as auth_failed")
    func wrongToken() {
        var client = ClientHandshake(role: .agent, nodeID: "gpu-1", token: Secret("admin-secret"), software: "t")
        var s = server()
        let (action, _) = run(&client, &s)
        guard case .reject(let r) = action else { Issue.record("\(String(describing: action))"); return }
        #expect(r.error.code == .authFailed)
        #expect(r.error.message.contains("join token"))
    }

    @Test("a missing token is rejected as auth_failed")
    func missingToken() {
        var client = ClientHandshake(role: .admin, token: nil, software: "t")
        var s = server()
        let (action, _) = run(&client, &s)
        guard case .reject(let r) = action else { Issue.record("\(String(describing: action))"); return }
        #expect(r.error.code == .authFailed)
        #expect(r.error.message.contains("missing token"))
    }

    @Test("an unsupported version is rejected with the server's range")
    func unsupportedVersion() {
        var s = server()
        let action = s.receive(.hello(Hello(minVersion: 5, maxVersion: 7, role: .agent, nodeID: "n")), credentials: credentials)
        guard case .reject(let r) = action else { Issue.record("\(action)"); return }
        #expect(r.error.code == .unsupportedVersion)
        #expect(r.minVersion == ProtocolVersion.minSupported && r.maxVersion == ProtocolVersion.current)
    }

    @Test("a newer client that also speaks this version is served at this version")
    func newerClient() {
        var s = server()
        let action = s.receive(.hello(Hello(minVersion: 1, maxVersion: 9, role: .admin)), credentials: credentials)
        guard case .challenge(let c) = action else { Issue.record("\(action)"); return }
        #expect(c.version == ProtocolVersion.current)
    }

    @Test("a frame before Hello is rejected as handshake_required")
    func frameBeforeHello() {
        var s = server()
        let action = s.receive(.adminRequest(.status), credentials: credentials)
        guard case .reject(let r) = action else { Issue.record("\(action)"); return }
        #expect(r.error.code == .handshakeRequired)
        #expect(r.error.message.contains("AdminRequest"))
    }

    @Test("an agent Hello with an invalid node id is rejected")
    func badNodeID() {
        var s = server()
        let action = s.receive(.hello(Hello(role: .agent, nodeID: "../etc")), credentials: credentials)
        guard case .reject(let r) = action else { Issue.record("\(action)"); return }
        #expect(r.error.code == .badHello)
    }

    @Test("an unknown role is rejected")
    func unknownRole() {
        var s = server()
        let action = s.receive(.hello(Hello(role: nil)), credentials: credentials)
        guard case .reject(let r) = action else { Issue.record("\(action)"); return }
        #expect(r.error.code == .badRole)
    }

    @Test("an Auth replayed from another connection (another nonce) is refused")
    func replayedAuth() {
        // Record a valid response on connection 1…
        var client = ClientHandshake(role: .agent, nodeID: "gpu-1", token: Secret("join-secret"), software: "t")
        let first = client.receive(.challenge(Challenge(version: 1, nonce: Array(repeating: 1, count: 32), serverID: "x")))
        guard case .send(let recorded) = first else { Issue.record("no auth"); return }
        // …and replay it against connection 2, whose nonce differs.
        var s = server()
        _ = s.receive(.hello(Hello(role: .agent, nodeID: "gpu-1")), credentials: credentials)
        guard case .reject(let r) = s.receive(recorded, credentials: credentials) else { Issue.record("replay accepted"); return }
        #expect(r.error.code == .authFailed)
    }

    @Test("a MAC for one node id does not authenticate another")
    func macBoundToNode() {
        let mac = HandshakeAuth.mac(token: Secret("join-secret")!, role: .agent, nodeID: "gpu-1", nonce: nonce)
        var s = server()
        _ = s.receive(.hello(Hello(role: .agent, nodeID: "gpu-2")), credentials: credentials)
        guard case .reject(let r) = s.receive(.auth(mac: mac), credentials: credentials) else { Issue.record("accepted"); return }
        #expect(r.error.code == .authFailed)
    }

    @Test("anything after the handshake is not handshake business")
    func afterFinish() {
        var client = ClientHandshake(role: .admin, token: Secret("admin-secret"), software: "t")
        var s = server()
        _ = run(&client, &s)
        #expect(s.isFinished)
        guard case .reject(let r) = s.receive(.auth(mac: [1]), credentials: credentials) else { Issue.record("accepted"); return }
        #expect(r.error.code == .unexpectedMessage)
    }

    @Test("version negotiation picks the highest common version")
    func negotiate() {
        #expect(ProtocolVersion.negotiate(clientMin: 1, clientMax: 3, serverMin: 1, serverMax: 2) == 2)
        #expect(ProtocolVersion.negotiate(clientMin: 2, clientMax: 3, serverMin: 1, serverMax: 2) == 2)
        #expect(ProtocolVersion.negotiate(clientMin: 3, clientMax: 4, serverMin: 1, serverMax: 2) == nil)
        #expect(ProtocolVersion.negotiate(clientMin: 3, clientMax: 1) == nil)
    }

    @Test("secrets never print their value")
    func secretDescription() {
        #expect(!"\(Secret("hunter2")!)".contains("hunter2"))
        #expect(Secret("   \n") == nil)
    }
}
