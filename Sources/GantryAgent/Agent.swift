import GantryCore
public import GantryHost
public import GantryModel
public import Logging
import GantryAccounting
import GantryNet
import GantryWire
import NIOPosix

/// The agent shell: owns the pure `AgentCore`, runs engines, keeps the spool, and talks
/// to the coordinator through whatever connection is current.
public actor Agent {
    private var core: AgentCore
    let options: AgentOptions
    let engines: [String: any Engine]
    let host: HostProbe
    let gpuSource: GPUSource
    let spool: any ResultSpool
    let logger: Logger
    private var tasks: [AttemptRef: Task<Void, Never>] = [:]
    private var outbox: Outbox?
    /// Splits the host's energy among running attempts and idle time.
    private var energy: EnergyMeter
    let counters: EnergyCounters
    /// Group commit of the spool: results waiting for the next write, whether a write is
    /// in flight, and the result messages held until their results are on disk.
    private var spoolPending: [AttemptResult] = []
    private var spoolWriting = false
    private var unwritten: Set<AttemptRef> = []
    private var held: [(ref: AttemptRef, message: AgentMessage)] = []
    private var notifier: (@Sendable (String) -> Void)?
    private var watchdog: (every: Duration, last: ContinuousClock.Instant)?

    public init(options: AgentOptions, inventory: Inventory, engines: [any Engine], host: HostProbe, spool: any ResultSpool, logger: Logger) throws {
        self.options = options
        self.engines = Dictionary(uniqueKeysWithValues: engines.map { ($0.config.name, $0) })
        self.host = host
        self.gpuSource = inventory.gpuSource
        self.spool = spool
        self.logger = logger
        var core = AgentCore(
            nodeID: options.nodeID, labels: options.labels, inventory: inventory, cost: options.cost,
            engines: options.engines.map {
                EngineStatus(name: $0.name, kind: $0.kind, models: $0.models, slots: $0.slots, healthy: false,
                    endpoint: $0.kind == .openai ? $0.url : "", healthDetail: "not probed yet")
            },
            software: options.software)
        core.restore(spooled: try spool.load())
        self.core = core
        let counters = EnergyCounters(probe: host)
        self.counters = counters
        self.energy = EnergyMeter(
            slots: options.engines.reduce(0) { $0 + $1.slots }, idleMilliwatts: options.cost.idleMilliwatts,
            busyMilliwatts: options.cost.busyMilliwatts, now: WallClock.now(), counter: counters.read())
    }

    // MARK: connection events

    func connected(outbox: Outbox, welcome: Welcome) {
        self.outbox = outbox
        logger.info("connected to the coordinator", metadata: [
            "coordinator": "\(options.coordinator)", "session": "\(welcome.sessionID)", "protocol.version": "\(welcome.version)",
        ])
        execute(core.connected(heartbeatIntervalMs: Int64(welcome.heartbeatIntervalMs), now: WallClock.now()))
    }

    func disconnected() {
        outbox = nil
        core.disconnected()
    }

    func received(_ envelope: WireEnvelope) {
        switch envelope.message {
        case .coordinator(let message):
            execute(core.received(message, now: WallClock.now()))
        case .error(let error, let fatal):
            logger.log(level: fatal ? .error : .warning, "the coordinator reported an error", metadata: [
                "error.code": "\(error.code.name)", "error": "\(error.message)",
            ])
        case .goodbye(let reason):
            logger.info("the coordinator said goodbye", metadata: ["reason": "\(reason)"])
        default:
            logger.warning("unexpected message from the coordinator", metadata: ["message": "\(envelope.message.kind)"])
        }
    }

    // MARK: timers

    var heartbeatIntervalMs: Int64 { core.heartbeatIntervalMs }

    func heartbeat(force: Bool = false) async {
        let now = WallClock.now()
        guard force || core.heartbeatDue(now: now), core.connected else { return }
        var stats = await host.stats(source: gpuSource)
        energy.advance(now: WallClock.now(), counter: counters.read())
        stats.totalEnergyMillijoules = energy.totalMillijoules
        stats.idleEnergyMillijoules = energy.idleMillijoules
        stats.energyMeasured = energy.measured
        execute(core.heartbeat(stats: stats, now: WallClock.now()))
    }

    /// Probes every engine once; a change of health is reported at once.
    func probeEngines() async {
        var changed = false
        for (name, engine) in engines.sorted(by: { $0.key < $1.key }) {
            let health = await engine.probe()
            if core.setHealth(engine: name, healthy: health.healthy, detail: health.detail) {
                changed = true
                logger.log(level: health.healthy ? .info : .warning, "engine health changed", metadata: [
                    "engine": "\(name)", "healthy": "\(health.healthy)", "detail": "\(health.detail)",
                ])
            }
        }
        if changed { await heartbeat(force: true) }
    }

    public var runningCount: Int { core.runningCount }
    public var engineStatuses: [EngineStatus] { core.engineStatuses }

    // MARK: engine events

    private func progress(_ p: JobProgress) {
        execute(core.progress(p))
    }

    private func finished(_ result: AttemptResult) {
        tasks[result.ref] = nil
        var result = result
        let (mj, measured) = energy.end(result.ref, now: WallClock.now(), counter: counters.read())
        result.energyMillijoules = mj
        result.energyMeasured = measured
        execute(core.finished(result))
    }

    // MARK: directives

    private func execute(_ directives: [AgentDirective]) {
        for directive in directives {
            switch directive {
            case .send(.result(let result)) where unwritten.contains(result.ref):
                held.append((result.ref, .result(result)))
            case .send(let message):
                outbox?.send(WireEnvelope(.agent(message)))
            case .start(let assignment):
                start(assignment)
            case .stop(let ref, let reason):
                logger.info("stopping attempt", metadata: ["job.id": "\(ref.job)", "job.attempt": "\(ref.attempt)", "reason": "\(reason)"])
                tasks[ref]?.cancel()
            case .spool(let result):
                spoolPending.append(result)
                unwritten.insert(result.ref)
            case .unspool(let ref):
                do {
                    try spool.remove(ref)
                } catch {
                    logger.error("cannot remove an acknowledged result from the spool", metadata: ["job.id": "\(ref.job)", "error": "\(error)"])
                }
            }
        }
        if !spoolPending.isEmpty, !spoolWriting {
            spoolWriting = true
            Task { await writeSpool() }
        }
    }

    /// Writes what is pending in one durable write, off the actor, while new results
    /// accumulate for the next one; then sends the results it made durable.
    private func writeSpool() async {
        while !spoolPending.isEmpty {
            let batch = spoolPending
            spoolPending = []
            do {
                try await NIOThreadPool.singleton.runIfActive { [spool] in try spool.write(batch) }
            } catch {
                logger.critical("cannot write results to the spool", metadata: [
                    "results": "\(batch.count)", "job.id": "\(batch[0].ref.job)", "error": "\(error)",
                ])
            }
            for r in batch { unwritten.remove(r.ref) }
            var waiting: [(ref: AttemptRef, message: AgentMessage)] = []
            for h in held {
                if unwritten.contains(h.ref) { waiting.append(h) } else { outbox?.send(WireEnvelope(.agent(h.message))) }
            }
            held = waiting
        }
        spoolWriting = false
    }

    /// Waits for spool writes in flight (shutdown).
    func flushSpool() async {
        while spoolWriting || !spoolPending.isEmpty { try? await Task.sleep(for: .milliseconds(5)) }
    }

    private func start(_ assignment: Assignment) {
        guard let engine = engines[assignment.engine] else { return }
        logger.debug("starting attempt", metadata: [
            "job.id": "\(assignment.ref.job)", "job.attempt": "\(assignment.ref.attempt)", "engine": "\(assignment.engine)",
            "job.model": "\(assignment.spec.model)",
        ])
        energy.start(assignment.ref, now: WallClock.now(), counter: counters.read())
        tasks[assignment.ref] = Task {
            let result = await engine.run(assignment) { [weak self] p in await self?.progress(p) }
            self.finished(result)
        }
    }

    /// Graceful shutdown, step one: take no new work.
    func beginShutdown() {
        core.beginShutdown()
        logger.notice("shutting down: refusing new work, letting \(core.runningCount) running attempt(s) finish")
    }

    public var spooledCount: Int { core.spooled.count }

    /// Lets the shell talk to systemd from the agent's own loop (see `tick`).
    func superviseWith(send: @escaping @Sendable (String) -> Void, watchdogMicros: UInt64?) {
        notifier = send
        if let us = watchdogMicros { watchdog = (.microseconds(Int64(us / 2)), ContinuousClock.now) }
    }

    /// Called every second: the watchdog ping and the status line.
    func tick() {
        guard let notifier else { return }
        let now = ContinuousClock.now
        if let w = watchdog, now - w.last >= w.every {
            notifier("WATCHDOG=1")
            watchdog!.last = now
        }
        let state = core.connected ? "connected to \(options.coordinator)" : "connecting to \(options.coordinator)"
        notifier("STATUS=\(state); \(core.runningCount) running, \(core.spooled.count) results awaiting ack")
    }

    /// Stops every running attempt (shutdown) and waits for them to end.
    func stopAll() async {
        let running = tasks.values
        for task in running { task.cancel() }
        for task in running { await task.value }
    }
}
