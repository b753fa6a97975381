public import GantryCore
public import GantryModel
public import GantryWire
public import Logging
public import GantryNet
import NIOConcurrencyHelpers

/// The coordinator shell: owns the pure `CoordinatorCore`, feeds it events from
/// connections and timers, and carries out its directives. It decides nothing itself.
public actor Coordinator {
    struct Session: Sendable {
        var id: SessionID
        var peer: EstablishedPeer
        var address: String
        var outbox: Outbox
    }

    private var core: CoordinatorCore
    private var sessions: [SessionID: Session] = [:]
    private var nextSession: UInt64 = 1
    let options: CoordinatorOptions
    let logger: Logger
    private let credentialsBox: NIOLockedValueBox<Credentials>

    public init(options: CoordinatorOptions, logger: Logger, now: Timestamp = WallClock.now()) {
        self.options = options
        self.logger = logger
        self.core = CoordinatorCore(settings: options.settings, now: now)
        self.credentialsBox = NIOLockedValueBox(options.credentials)
    }

    /// The tokens the handshake checks, readable from any thread (the event loops).
    public nonisolated var credentials: Credentials { credentialsBox.withLockedValue { $0 } }

    /// SIGHUP: new tokens and settings, without dropping connections.
    public func reload(credentials: Credentials, settings: CoordinatorSettings) {
        credentialsBox.withLockedValue { $0 = credentials }
        core.reconfigure(settings)
        logger.notice("configuration reloaded")
    }

    // MARK: connections

    /// A connection finished its handshake: register the session and send Welcome.
    func open(peer: EstablishedPeer, address: String, outbox: Outbox) -> SessionID {
        let id = SessionID(nextSession)
        nextSession += 1
        sessions[id] = Session(id: id, peer: peer, address: address, outbox: outbox)
        let s = options.settings
        outbox.send(WireEnvelope(.welcome(Welcome(
            version: peer.version, sessionID: id.description,
            heartbeatIntervalMs: UInt32(clamping: s.heartbeatIntervalMs), ttlMs: UInt32(clamping: s.ttlMs),
            maxFrameBytes: UInt32(clamping: options.maxFrameBytes), software: s.software, permission: peer.permission))))
        logger.debug("session opened", metadata: [
            "session": "\(id)", "peer.role": "\(peer.role.rawValue)", "peer.address": "\(address)",
            "node.id": "\(peer.nodeID?.rawValue ?? "-")",
        ])
        return id
    }

    /// One decoded frame from an established session.
    func received(_ envelope: WireEnvelope, from id: SessionID) {
        guard let session = sessions[id] else { return }
        let now = WallClock.now()
        switch (session.peer.role, envelope.message) {
        case (.agent, .agent(.register(let registration))):
            guard registration.nodeID == session.peer.nodeID else {
                execute([.error(id, GantryError(.badHello, "Register names node \(registration.nodeID) but the handshake named \(session.peer.nodeID?.rawValue ?? "none")"), fatal: true)])
                return
            }
            execute(core.agentRegistered(session: id, address: session.address, registration: registration, now: now))
        case (.agent, .agent(let message)):
            execute(core.agentMessage(message, session: id, now: now))
        case (.admin, .adminRequest(let request)):
            guard envelope.requestID != 0 else {
                execute([.error(id, GantryError(.badRequest, "AdminRequest needs a non-zero request_id"), fatal: false)])
                return
            }
            execute(core.admin(request, requestID: envelope.requestID, session: id, permission: session.peer.permission ?? .readOnly, now: now))
        case (_, .goodbye(let reason)):
            logger.debug("peer said goodbye", metadata: ["session": "\(id)", "reason": "\(reason)"])
            session.outbox.close(with: nil)
        case (_, .error(let error, _)):
            logger.warning("peer reported an error", metadata: ["session": "\(id)", "peer.address": "\(session.address)", "error": "\(error)"])
        case (let role, let message):
            execute([.error(id, GantryError(.unexpectedMessage, "\(message.kind) is not something a\(role == .admin ? "n admin" : "n agent") peer may send"), fatal: false)])
        }
    }

    /// The connection is gone.
    func closed(_ id: SessionID) {
        guard sessions.removeValue(forKey: id) != nil else { return }
        execute(core.sessionClosed(id, now: WallClock.now()))
    }

    // MARK: timers and queries

    public func tick() {
        execute(core.tick(now: WallClock.now()))
    }

    public func status() -> ClusterStatus {
        core.status(now: WallClock.now())
    }

    public var sessionCount: Int { sessions.count }

    // MARK: directives

    private func execute(_ directives: [CoordinatorDirective]) {
        for directive in directives {
            switch directive {
            case .send(let id, let message):
                sessions[id]?.outbox.send(WireEnvelope(.coordinator(message)))
            case .reply(let id, let requestID, let result):
                switch result {
                case .success(let response):
                    sessions[id]?.outbox.send(WireEnvelope(.adminResponse(response), requestID: requestID))
                case .failure(let error):
                    sessions[id]?.outbox.send(WireEnvelope(.error(error, fatal: false), requestID: requestID))
                }
            case .jobEvent(let id, let requestID, let event):
                sessions[id]?.outbox.send(WireEnvelope(.jobEvent(event), requestID: requestID))
            case .error(let id, let error, let fatal):
                guard let session = sessions[id] else { continue }
                logger.info("protocol error from peer", metadata: [
                    "session": "\(id)", "peer.address": "\(session.address)", "error.code": "\(error.code.name)", "error": "\(error.message)",
                ])
                if fatal {
                    session.outbox.close(with: WireEnvelope(.error(error, fatal: true)))
                } else {
                    session.outbox.send(WireEnvelope(.error(error, fatal: false)))
                }
            case .close(let id, let reason):
                sessions[id]?.outbox.close(with: WireEnvelope(.goodbye(reason)))
            case .notice(let notice):
                log(notice)
            }
        }
    }
}

extension Coordinator {
    /// Graceful shutdown: every peer gets a Goodbye and its connection closes.
    func shutdownSessions(reason: String) {
        for session in sessions.values {
            session.outbox.close(with: WireEnvelope(.goodbye(reason)))
        }
    }
}
