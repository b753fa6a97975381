public import GantryRuntime
import GantryCoordinatorCore
public import GantryPersistence
public import GantryModel
public import GantryWire
public import Logging
public import GantryNet
import NIOConcurrencyHelpers
import NIOPosix

/// The coordinator shell: owns the pure `CoordinatorCore`, feeds it events from
/// connections and timers, and carries out its directives. It decides nothing itself.
public actor Coordinator {
    struct Session: Sendable {
        var id: SessionID
        var peer: EstablishedPeer
        var address: String
        var outbox: Outbox
    }

    var core: CoordinatorCore
    private var sessions: [SessionID: Session] = [:]
    /// Set by `shutdownSessions`: a session that opens after it is told Goodbye at once.
    private var goodbye: String?
    /// The next session id; connections take theirs on their event loops.
    private nonisolated let nextSession = NIOLockedValueBox<UInt64>(1)
    let options: CoordinatorOptions
    let logger: Logger
    private let credentialsBox: NIOLockedValueBox<Credentials>
    /// Connection limits and the failed-handshake penalty, shared with the event loops.
    public nonisolated let admission: Admission

    /// The durable store and its group-commit writer (run by `StoreWriterService`); without
    /// a store (some tests) changes are dropped and nothing waits.
    public nonisolated let store: (any CoordinatorStore)?
    nonisolated let writer: GroupCommit<StoreChange>?
    /// Outbound directives waiting for the commits they depend on (see `execute`).
    private var gate = DurabilityGate<CoordinatorDirective>()
    /// Reads from the store, carried out off this actor by `QueryService`.
    nonisolated let queries: AsyncStream<PendingQuery>
    private let queryInbox: AsyncStream<PendingQuery>.Continuation
    var metrics = CoordinatorMetrics()
    /// API requests in progress: what the core says about each goes to its HTTP handler.
    private var exchanges: [SessionID: AsyncStream<ExchangeEvent>.Continuation] = [:]
    /// When the core next wants `tick` (the `Ticker` sleeps on it).
    nonisolated let wakeTimer = WakeTimer()
    /// Agents' heartbeats, staged by their connections (`HeartbeatService` applies them).
    nonisolated let heartbeats = HeartbeatInbox()
    /// Everything else the connections received, in order (`SessionService` applies it).
    nonisolated let sessionInbox = SessionInbox()

    struct PendingQuery: Sendable {
        var session: SessionID
        var requestID: UInt64
        var query: StoreQuery
    }

    public init(options: CoordinatorOptions, logger: Logger, store: (any CoordinatorStore)? = nil, now: Timestamp = WallClock.now()) {
        self.options = options
        self.logger = logger
        self.core = CoordinatorCore(settings: options.config.settings, now: now)
        self.credentialsBox = NIOLockedValueBox(options.credentials)
        self.store = store
        self.writer = store.map { store in
            GroupCommit { batch in try await store.apply(batch) }
        }
        self.admission = Admission(limits: options.limits)
        (queries, queryInbox) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// Loads the store's state. Call once, before serving. The store reads jobs in
    /// batches on its own thread while the core takes in the ones read, so a restart of a
    /// million jobs keeps both cores busy and never holds them all twice.
    public func start(finishedInMemory: Int = 10_000) async throws {
        guard let store else { return }
        let state = try await store.restoredState()
        let now = WallClock.now()
        core.restore(nodes: state.nodes, apiKeys: state.apiKeys, expectedJobs: state.unfinished, now: now)
        let (batches, sink) = AsyncStream.makeStream(of: [Job].self)
        var unfinished = 0
        try await withThrowingTaskGroup { group in
            group.addTask {
                defer { sink.finish() }
                let finished = state.counts.contains { $0.key.isTerminal && $0.value > 0 }
                try await store.restoreJobs(finishedLimit: finished ? finishedInMemory : 0) { sink.yield($0) }
            }
            for await batch in batches {
                unfinished += core.restore(batch, now: now)
            }
            try await group.waitForAll()
        }
        core.finishRestore(finishedCounts: state.counts)
        logger.notice("state loaded", metadata: [
            "store": "\(store.location)", "jobs.unfinished": "\(unfinished)", "nodes": "\(state.nodes.count)",
        ])
    }

    /// The writer could not write: stop, so that nothing is acknowledged that is not durable.
    func storeFailed(_ error: any Error) {
        logger.critical("cannot write to the store; stopping so that nothing is acknowledged that is not durable", metadata: [
            "store": "\(store?.location ?? "-")", "error": "\(error)",
        ])
        options.onStoreFailure(error)
    }

    /// The tokens the handshake checks, readable from any thread (the event loops).
    public nonisolated var credentials: Credentials { credentialsBox.withLockedValue { $0 } }

    /// SIGHUP: new tokens, settings and limits, without dropping connections. Sessions that
    /// open from now on are welcomed with the new settings.
    public func reload(_ fresh: CoordinatorOptions) {
        admission.limits = fresh.limits
        credentialsBox.withLockedValue { $0 = fresh.credentials }
        var settings = fresh.config.settings
        settings.software = core.settings.software
        core.reconfigure(settings, now: WallClock.now())
        logger.notice("configuration reloaded")
    }

    // MARK: connections

    /// What the connections posted, in order, in one turn.
    func apply(_ events: [SessionEvent]) {
        for event in events {
            switch event {
            case .opened(let id, let peer, let address, let outbox):
                open(id, peer: peer, address: address, outbox: outbox)
            case .frame(let id, let envelope, let gate, let bytes):
                received(envelope, from: id)
                gate.handled(frames: 1, bytes: bytes)
            case .closed(let id):
                closed(id)
            }
        }
    }

    /// A connection finished its handshake: register the session and send Welcome, with
    /// the settings the core runs with now.
    func open(_ id: SessionID, peer: EstablishedPeer, address: String, outbox: Outbox) {
        sessions[id] = Session(id: id, peer: peer, address: address, outbox: outbox)
        if let goodbye {
            // Its handshake finished while gantryd was shutting down.
            outbox.close(with: WireEnvelope(.goodbye(goodbye)))
            return
        }
        let s = core.settings
        outbox.send(WireEnvelope(.welcome(Welcome(
            version: peer.version, sessionID: id.description,
            heartbeatIntervalMs: UInt32(clamping: s.heartbeatIntervalMs), ttlMs: UInt32(clamping: s.ttlMs),
            maxFrameBytes: UInt32(clamping: options.config.maxFrameBytes), software: s.software, permission: peer.permission))))
        logger.debug("session opened", metadata: [
            "session": "\(id)", "peer.role": "\(peer.role.rawValue)", "peer.address": "\(address)",
            "node.id": "\(peer.nodeID?.rawValue ?? "-")",
        ])
    }

    /// One decoded frame from an established session.
    func received(_ envelope: WireEnvelope, from id: SessionID) {
        guard let session = sessions[id] else { return }
        let now = WallClock.now()
        switch (session.peer.role, envelope.message) {
        case (.agent, .agent(.register(let registration))):
            execute(core.agentRegistered(
                session: id, address: session.address, handshakeNodeID: session.peer.nodeID, registration: registration, now: now))
        case (.agent, .agent(let message)):
            execute(timed { core.agentMessage(message, session: id, now: now) })
        case (.admin, .adminRequest(.createApiKey(let spec))) where envelope.requestID != 0:
            // The core has no randomness: the key is made here, and only its hash kept.
            execute(core.createApiKey(
                spec, newKey: Self.newApiKey(), requestID: envelope.requestID, session: id,
                permission: session.peer.permission ?? .readOnly, now: now))
        case (.admin, .adminRequest(let request)):
            let permission = session.peer.permission ?? .readOnly
            execute(timed { core.admin(request, requestID: envelope.requestID, session: id, permission: permission, now: now) })
        case (_, .goodbye(let reason)):
            logger.debug("peer said goodbye", metadata: ["session": "\(id)", "reason": "\(reason)"])
            session.outbox.close(with: nil)
        case (_, .error(let error, _)):
            logger.warning("peer reported an error", metadata: ["session": "\(id)", "peer.address": "\(session.address)", "error": "\(error)"])
        case (_, .unreadable(let error)):
            execute(core.unreadable(error, requestID: envelope.requestID, session: id))
        case (let role, let message):
            execute(core.unexpected(message.kind, from: role.rawValue, requestID: envelope.requestID, session: id))
        }
    }

    func hasSession(_ id: SessionID) -> Bool { sessions[id] != nil }

    nonisolated func newSessionID() -> SessionID {
        SessionID(nextSession.withLockedValue { n in
            defer { n += 1 }
            return n
        })
    }

    func registerExchange(_ id: SessionID, _ continuation: AsyncStream<ExchangeEvent>.Continuation) {
        exchanges[id] = continuation
    }

    func unregisterExchange(_ id: SessionID) {
        exchanges.removeValue(forKey: id)?.finish()
    }

    /// The connection is gone.
    func closed(_ id: SessionID) {
        guard sessions.removeValue(forKey: id) != nil else { return }
        execute(core.sessionClosed(id, now: WallClock.now()))
    }

    /// The store answered a query (`QueryService`).
    func answered(_ pending: PendingQuery, _ answer: Result<StoreAnswer, GantryError>) {
        execute(core.queryAnswered(session: pending.session, requestID: pending.requestID, query: pending.query, answer: answer))
    }

    // MARK: timers and queries

    public func tick() {
        // Heartbeats first: a node whose heartbeat is staged is not silent.
        applyHeartbeats()
        execute(timed { core.tick(now: WallClock.now()) })
    }

    /// The one-line summary systemd shows in `systemctl status`.
    public func statusLine() -> String {
        let s = core.status(now: WallClock.now())
        let tps = Int(s.tokensPerSecond.rounded())
        let role = s.leaderEpoch > 0 ? "leader (epoch \(s.leaderEpoch)); " : ""
        return role + "\(s.nodes[.ready] ?? 0) nodes ready; jobs: \(s.queueDepth) queued, \((s.jobs[.assigned] ?? 0) + (s.jobs[.running] ?? 0)) running; \(tps) tokens/s"
    }

    /// Runs a core event and, if it placed jobs, records the time per placement.
    private func timed(_ event: () -> [CoordinatorDirective]) -> [CoordinatorDirective] {
        let start = ContinuousClock.now
        let out = event()
        var placed = 0
        for d in out { if case .notice(.jobPlaced) = d { placed += 1 } }
        if placed > 0 {
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            for _ in 0..<placed { metrics.placed(seconds: seconds / Double(placed)) }
        }
        return out
    }

    public func status() -> ClusterStatus {
        core.status(now: WallClock.now())
    }

    public var sessionCount: Int { sessions.count }

    /// This coordinator leads (PostgreSQL store): for `status`, `/metrics` and systemd.
    public func setLeadership(address: String, epoch: Int64, standbys: [String]) {
        core.setLeadership(address: address, epoch: UInt64(max(0, epoch)), standbys: standbys)
    }

    /// The metrics gauges, refreshed for a scrape.
    func refreshMetrics() {
        metrics.refresh(status: core.status(now: WallClock.now()), nodes: core.nodeInfos(), drift: core.tokenDrift())
    }

    // MARK: directives

    /// Carries out directives. Changes to persist go to the group-commit writer as one
    /// submission; a `.durable` directive, and every outbound directive after it, waits
    /// until that submission is on disk, so acknowledgements never run ahead of the store
    /// and messages to a peer keep their order.
    func execute(_ directives: [CoordinatorDirective]) {
        var changes: [StoreChange] = []
        for d in directives { if case .persist(let c) = d { changes.append(c) } }
        if !changes.isEmpty, let writer { gate.submitted(writer.submit(changes)) }
        for directive in directives {
            switch directive {
            case .persist:
                continue
            case .notice(let notice):
                log(notice)
            case .durable(let inner):
                if let now = gate.durable(inner) { perform(now) }
            default:
                if let now = gate.ordered(directive) { perform(now) }
            }
        }
    }

    /// The writer made everything through `seq` durable: release what waited for it.
    func committed(through seq: UInt64) {
        for d in gate.committed(through: seq) { perform(d) }
    }

    private func perform(_ directive: CoordinatorDirective) {
        switch directive {
        case .send(let id, let message):
            sessions[id]?.outbox.send(WireEnvelope(.coordinator(message)))
        case .reply(let id, _, let result) where exchanges[id] != nil:
            exchanges[id]!.yield(.answer(result))
        case .jobEvent(let id, _, let event) where exchanges[id] != nil:
            exchanges[id]!.yield(.event(event))
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
            guard let session = sessions[id] else { return }
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
        case .query(let session, let requestID, let query):
            let pending = PendingQuery(session: session, requestID: requestID, query: query)
            if store == nil {
                answered(pending, .failure(GantryError(.unavailable, "this coordinator runs without a store")))
            } else {
                queryInbox.yield(pending)
            }
        case .wakeUp(let at):
            wakeTimer.wake(at: at)
        case .notice(let notice):
            log(notice)
        case .persist:
            break
        case .durable(let inner):
            perform(inner)
        }
    }
}

extension Coordinator {
    /// Graceful shutdown: every peer gets a Goodbye and its connection closes.
    func shutdownSessions(reason: String) {
        goodbye = reason
        // The store writer stops after this (it is the last service to stop): hand it
        // what the core holds back, attempts' starts.
        execute(core.flushPending())
        for session in sessions.values {
            session.outbox.close(with: WireEnvelope(.goodbye(reason)))
        }
    }
}
