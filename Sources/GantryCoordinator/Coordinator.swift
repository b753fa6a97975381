public import GantryCore
public import GantryModel
public import GantryWire
public import Logging
public import GantryNet
import DequeModule
public import GantryStore
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
    /// Connection limits and the failed-handshake penalty, shared with the event loops.
    public nonisolated let admission: Admission
    /// Control requests not yet answered (by a reply, or a watch's first event), per session.
    private var inflight: [SessionID: Set<UInt64>] = [:]

    /// The durable store and its writer, if persistence is on.
    let store: Store?
    private var committer: GroupCommitter?
    /// Sequence numbers handed out by the committer, and the highest one durable.
    private var submittedSeq: UInt64 = 0
    private var durableSeq: UInt64 = 0
    /// Outbound directives waiting for durability, in order (see `execute`).
    private var held: Deque<(seq: UInt64, directive: CoordinatorDirective)> = []
    private var durableWaiters: [(seq: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    var metrics = CoordinatorMetrics()
    /// systemd's watchdog: pinged from `tick`, so a stuck actor stops the pings.
    private var watchdog: (every: Duration, last: ContinuousClock.Instant)?
    private var lastStatusLine: ContinuousClock.Instant?
    private var notifier: (@Sendable (String) -> Void)?

    public init(options: CoordinatorOptions, logger: Logger, store: Store? = nil, now: Timestamp = WallClock.now()) {
        self.options = options
        self.logger = logger
        var settings = options.settings
        settings.persistent = store != nil
        self.core = CoordinatorCore(settings: settings, now: now)
        self.credentialsBox = NIOLockedValueBox(options.credentials)
        self.store = store
        self.admission = Admission(limits: options.limits)
    }

    /// Loads the store's state and starts the writer. Call once, before serving.
    public func start(finishedInMemory: Int = 10_000) throws {
        guard let store, committer == nil else { return }
        let (jobs, nodes) = try store.loadForRestore(finishedLimit: finishedInMemory)
        core.restore(jobs: jobs, nodes: nodes, now: WallClock.now())
        let unfinished = jobs.filter { !$0.state.isTerminal }.count
        logger.notice("state loaded", metadata: [
            "store": "\(store.path)", "jobs.unfinished": "\(unfinished)", "nodes": "\(nodes.count)",
        ])
        let committer = GroupCommitter(
            store: store,
            onCommit: { [weak self] seq in
                guard let self else { return }
                Task { await self.committed(through: seq) }
            },
            onFailure: { [logger, options] error in
                logger.critical("cannot write to the store; stopping so that nothing is acknowledged that is not durable", metadata: [
                    "store": "\(store.path)", "error": "\(error)",
                ])
                options.onStoreFailure(error)
            })
        committer.start()
        self.committer = committer
    }

    /// Flushes and stops the writer (graceful shutdown).
    public func stopStore() {
        committer?.stop()
    }

    /// The tokens the handshake checks, readable from any thread (the event loops).
    public nonisolated var credentials: Credentials { credentialsBox.withLockedValue { $0 } }

    /// SIGHUP: new tokens and settings, without dropping connections.
    public func reload(credentials: Credentials, settings: CoordinatorSettings, limits: Admission.Limits? = nil) {
        if let limits { admission.limits = limits }
        credentialsBox.withLockedValue { $0 = credentials }
        core.reconfigure(settings, now: WallClock.now())
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
    func received(_ envelope: WireEnvelope, from id: SessionID) async {
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
            execute(timed { core.agentMessage(message, session: id, now: now) })
        case (.admin, .adminRequest) where inflight[id, default: []].count >= options.maxInflightRequests:
            let e = GantryError(.limitExceeded, "\(inflight[id, default: []].count) requests are already in flight on this connection (limits.max_inflight_requests = \(options.maxInflightRequests)); wait for answers")
            session.outbox.send(WireEnvelope(.error(e, fatal: false), requestID: envelope.requestID))
        case (.admin, .adminRequest(.report(let query))):
            inflight[id, default: []].insert(envelope.requestID)
            execute([.reply(id, requestID: envelope.requestID, await report(query))])
        case (.admin, .adminRequest(let request)):
            guard envelope.requestID != 0 else {
                execute([.error(id, GantryError(.badRequest, "AdminRequest needs a non-zero request_id"), fatal: false)])
                return
            }
            inflight[id, default: []].insert(envelope.requestID)
            if let answer = storeAnswer(request) {
                execute([.reply(id, requestID: envelope.requestID, answer)])
                return
            }
            execute(timed { core.admin(request, requestID: envelope.requestID, session: id, permission: session.peer.permission ?? .readOnly, now: now) })
        case (_, .goodbye(let reason)):
            logger.debug("peer said goodbye", metadata: ["session": "\(id)", "reason": "\(reason)"])
            session.outbox.close(with: nil)
        case (_, .error(let error, _)):
            logger.warning("peer reported an error", metadata: ["session": "\(id)", "peer.address": "\(session.address)", "error": "\(error)"])
        case (let role, let message):
            execute([.error(id, GantryError(.unexpectedMessage, "\(message.kind) is not something a\(role == .admin ? "n admin" : "n agent") peer may send"), fatal: false)])
        }
    }

    /// Job reads the store answers better than memory: jobs no longer kept in memory, and
    /// listings (newest first, with in-memory state overlaid, which is never older).
    private func storeAnswer(_ request: AdminRequest) -> Result<AdminResponse, GantryError>? {
        guard let store else { return nil }
        do {
            switch request {
            case .getJob(let id) where core.job(id) == nil:
                guard let job = try store.job(id) else { return .failure(GantryError(.notFound, "job \(id) is not known to this coordinator")) }
                return .success(.job(job))
            case .listJobs(let filter):
                let stored = try store.jobs(filter)
                return .success(.jobs(stored.map { core.job($0.id) ?? $0 }))
            default:
                return nil
            }
        } catch {
            logger.error("store read failed", metadata: ["error": "\(error)"])
            return .failure(GantryError(.unavailable, "the store could not be read: \(error)"))
        }
    }

    /// The connection is gone.
    func closed(_ id: SessionID) {
        inflight[id] = nil
        guard sessions.removeValue(forKey: id) != nil else { return }
        execute(core.sessionClosed(id, now: WallClock.now()))
    }

    // MARK: timers and queries

    public func tick() {
        let now = WallClock.now()
        execute(timed { core.tick(now: now) })
        supervise(now: now)
    }

    /// Lets the shell talk to systemd: `send` takes sd_notify strings; `watchdogMicros` is
    /// the interval systemd expects pings within (pinged at half).
    public func superviseWith(send: @escaping @Sendable (String) -> Void, watchdogMicros: UInt64?) {
        notifier = send
        if let us = watchdogMicros { watchdog = (.microseconds(Int64(us / 2)), ContinuousClock.now) }
    }

    private func supervise(now: Timestamp) {
        guard let notifier else { return }
        let clock = ContinuousClock.now
        if let w = watchdog, clock - w.last >= w.every {
            notifier("WATCHDOG=1")
            watchdog!.last = clock
        }
        if lastStatusLine.map({ clock - $0 >= .seconds(2) }) ?? true {
            lastStatusLine = clock
            notifier("STATUS=\(statusLine(now: now))")
        }
    }

    /// The one-line summary systemd shows in `systemctl status`.
    public func statusLine(now: Timestamp) -> String {
        let s = core.status(now: now)
        let tps = Int(s.tokensPerSecond.rounded())
        return "\(s.nodes[.ready] ?? 0) nodes ready; jobs: \(s.queueDepth) queued, \((s.jobs[.assigned] ?? 0) + (s.jobs[.running] ?? 0)) running; \(tps) tokens/s"
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

    // MARK: directives

    /// Carries out directives. Changes to persist go to the group committer as one
    /// submission; a `.durable` directive, and every outbound directive after it, waits
    /// until that submission is on disk, so acknowledgements never run ahead of the store
    /// and messages to a peer keep their order.
    private func execute(_ directives: [CoordinatorDirective]) {
        var changes: [StoreChange] = []
        for d in directives { if case .persist(let c) = d { changes.append(c) } }
        if !changes.isEmpty, let committer { submittedSeq = committer.submit(changes) }
        for directive in directives {
            switch directive {
            case .persist:
                continue
            case .notice(let notice):
                log(notice)
            case .durable(let inner):
                if submittedSeq > durableSeq || !held.isEmpty {
                    held.append((submittedSeq, inner))
                } else {
                    perform(inner)
                }
            default:
                if held.isEmpty {
                    perform(directive)
                } else {
                    held.append((held.last!.seq, directive))
                }
            }
        }
    }

    /// The committer made everything through `seq` durable: release what waited for it.
    func committed(through seq: UInt64) {
        durableSeq = max(durableSeq, seq)
        while let first = held.first, first.seq <= durableSeq {
            held.removeFirst()
            perform(first.directive)
        }
        let ready = durableWaiters.filter { $0.seq <= durableSeq }
        durableWaiters.removeAll { $0.seq <= durableSeq }
        for w in ready { w.continuation.resume() }
    }

    /// Hands every node's idle cost up to `now` to the store.
    func flushIdle(now: Timestamp) {
        execute(core.flushAllIdle(now: now))
    }

    /// Waits until everything submitted so far is durable.
    func waitUntilDurable() async {
        let target = submittedSeq
        guard committer != nil, target > durableSeq else { return }
        await withCheckedContinuation { durableWaiters.append((target, $0)) }
    }

    private func answered(_ id: SessionID, _ requestID: UInt64) {
        guard inflight[id]?.remove(requestID) != nil else { return }
        if inflight[id]?.isEmpty == true { inflight[id] = nil }
    }

    /// The metrics gauges, refreshed for a scrape.
    func refreshMetrics() {
        let now = WallClock.now()
        metrics.refresh(status: core.status(now: now), nodes: core.nodeInfos())
    }

    private func perform(_ directive: CoordinatorDirective) {
        switch directive {
            case .send(let id, let message):
                sessions[id]?.outbox.send(WireEnvelope(.coordinator(message)))
            case .reply(let id, let requestID, let result):
                answered(id, requestID)
                switch result {
                case .success(let response):
                    sessions[id]?.outbox.send(WireEnvelope(.adminResponse(response), requestID: requestID))
                case .failure(let error):
                    sessions[id]?.outbox.send(WireEnvelope(.error(error, fatal: false), requestID: requestID))
                }
            case .jobEvent(let id, let requestID, let event):
                answered(id, requestID)
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
        for session in sessions.values {
            session.outbox.close(with: WireEnvelope(.goodbye(reason)))
        }
    }
}
