import GantryRuntime
import GantryAgentCore
public import GantryHost
public import GantryModel
public import Logging
import GantryAccounting
import GantryNet
import GantryWire

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
    /// Running attempts' stop signals; the attempts themselves run in `runAttempts`, each
    /// given its signal with its assignment (no hop back to this actor to fetch it).
    private var stops: [AttemptRef: StopSignal] = [:]
    nonisolated let starts = BatchInbox<(Assignment, StopSignal)>()
    /// Waiting for the agent to be idle (no attempt running), or for every spooled result
    /// to be acknowledged (shutdown).
    private nonisolated let idle = WaitList()
    private nonisolated let acknowledged = WaitList()
    private var outbox: Outbox?
    /// The coordinator of the current connection (the leader, with several).
    private var coordinator: HostPort?
    /// Splits the host's energy among running attempts and idle time.
    private var energy: EnergyMeter
    let counters: EnergyCounters
    /// The spool's group-commit writer (run by `AgentService`), and the directives held
    /// until the spool writes they depend on are durable.
    nonisolated let spoolWriter: GroupCommit<AttemptResult>
    private var gate = DurabilityGate<AgentDirective>()
    /// Each scraped engine's telemetry so far.
    private var telemetry: [String: TelemetryFold] = [:]
    private var telemetryUnavailable: Set<String> = []

    public init(options: AgentOptions, inventory: Inventory, engines: [any Engine], host: HostProbe, spool: any ResultSpool, logger: Logger) throws {
        self.options = options
        self.engines = Dictionary(uniqueKeysWithValues: engines.map { ($0.config.name, $0) })
        self.host = host
        self.gpuSource = inventory.gpuSource
        self.spool = spool
        self.logger = logger
        self.spoolWriter = GroupCommit { [spool, logger] batch in
            do {
                // On the writer's own task, as gantryd's store writer does: a hand-off to a
                // thread pool and back would cost two thread wake-ups on every result's path
                // for a write and an fdatasync of a tenth of a millisecond.
                try spool.write(batch)
            } catch {
                // Sending the results anyway keeps the cluster going; they are lost only if
                // this agent also crashes before the coordinator acknowledges them.
                logger.critical("cannot write results to the spool; sending them without it", metadata: [
                    "results": "\(batch.count)", "job.id": "\(batch[0].ref.job)", "error": "\(error)",
                ])
            }
        }
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

    func connected(outbox: Outbox, welcome: Welcome, coordinator: HostPort) {
        self.outbox = outbox
        self.coordinator = coordinator
        logger.info("connected to the coordinator", metadata: [
            "coordinator": "\(coordinator)", "session": "\(welcome.sessionID)", "protocol.version": "\(welcome.version)",
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
        case .error(let error, let fatal) where !fatal && error.code == .staleAttempt:
            // The job moved on (it was retried or cancelled): the coordinator acknowledges
            // such a result all the same, and nothing is lost.
            logger.info("the coordinator refused a stale message; it was dropped", metadata: ["error": "\(error.message)"])
        case .error(let error, let fatal):
            logger.log(level: fatal ? .error : .warning, "the coordinator reported an error", metadata: [
                "error.code": "\(error.code.name)", "error": "\(error.message)",
            ])
        case .unreadable(let error):
            logger.warning("ignoring a message this agent cannot read", metadata: ["error.code": "\(error.code.name)", "error": "\(error.message)"])
        case .goodbye(let reason):
            logger.info("the coordinator said goodbye", metadata: ["reason": "\(reason)"])
        default:
            logger.warning("unexpected message from the coordinator", metadata: ["message": "\(envelope.message.kind)"])
        }
    }

    // MARK: timers

    var heartbeatIntervalMs: Int64 { core.heartbeatIntervalMs }

    /// The silence limit, when the coordinator acknowledges heartbeats and has exceeded it.
    func coordinatorSilence() -> Int64? {
        core.coordinatorSilent(now: WallClock.now()) ? core.silenceLimitMs : nil
    }

    func heartbeat(force: Bool = false) async {
        spool.flush()
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

    /// One scrape's outcome for `name`. Returns false when the engine has no telemetry to
    /// read (the scraper then tries again only now and then).
    ///
    /// `gantryBefore` is Gantry's attempts on the engine when the scrape began; with those
    /// when it ended, the larger is taken, so an attempt that ended meanwhile (and that the
    /// engine still counted) is not taken for another client's request.
    func scraped(_ name: String, _ outcome: EngineScraper.Outcome, gantryBefore: Int) async -> Bool {
        var fold = telemetry[name] ?? TelemetryFold()
        var value = fold.fold(outcome, at: WallClock.now())
        value?.gantryRunning = max(gantryBefore, gantryRunning(name))
        telemetry[name] = fold
        switch outcome {
        case .unsupported(let why) where telemetryUnavailable.insert(name).inserted:
            logger.warning("engine telemetry unavailable; placing on its slots alone", metadata: ["engine": "\(name)", "detail": "\(why)"])
        case .failed(let why) where fold.current.failures == AgentCore.EngineSlot.scrapeFailuresTolerated:
            logger.warning("engine telemetry failing", metadata: ["engine": "\(name)", "detail": "\(why)"])
        case .reading:
            telemetryUnavailable.remove(name)
        default:
            break
        }
        if core.setTelemetry(engine: name, value) {
            let status = core.engineStatuses.first { $0.name == name }
            logger.log(level: status?.healthy == true ? .info : .warning, "engine health changed", metadata: [
                "engine": "\(name)", "healthy": "\(status?.healthy ?? false)", "detail": "\(status?.healthDetail ?? "")",
            ])
            await heartbeat(force: true)
        }
        if case .unsupported = outcome { return false }
        return true
    }

    /// Gantry's attempts running on engine `name`.
    func gantryRunning(_ name: String) -> Int {
        core.engineStatuses.first { $0.name == name }?.slotsUsed ?? 0
    }

    public var runningCount: Int { core.runningCount }
    public var engineStatuses: [EngineStatus] { core.engineStatuses }

    // MARK: engine events

    func progress(_ p: JobProgress) {
        execute(core.progress(p))
    }

    func finished(_ result: AttemptResult) {
        stops[result.ref] = nil
        var result = result
        let (mj, measured) = energy.end(result.ref, now: WallClock.now(), counter: counters.read())
        result.energyMillijoules = mj
        result.energyMeasured = measured
        execute(core.finished(result))
        if core.runningCount == 0 { idle.resumeAll() }
    }

    // MARK: directives

    private func execute(_ directives: [AgentDirective]) {
        var results: [AttemptResult] = []
        for d in directives { if case .spool(let r) = d { results.append(r) } }
        if !results.isEmpty { gate.submitted(spoolWriter.submit(results)) }
        for directive in directives {
            switch directive {
            case .spool:
                continue
            case .durable(let inner):
                if let now = gate.durable(inner) { perform(now) }
            default:
                if let now = gate.ordered(directive) { perform(now) }
            }
        }
    }

    /// The spool writer made everything through `seq` durable: carry out what waited.
    func spoolCommitted(through seq: UInt64) {
        for d in gate.committed(through: seq) { perform(d) }
    }

    private func perform(_ directive: AgentDirective) {
        switch directive {
        case .send(let message):
            outbox?.send(WireEnvelope(.agent(message)))
        case .start(let assignment):
            start(assignment)
        case .stop(let ref, let reason):
            logger.info("stopping attempt", metadata: ["job.id": "\(ref.job)", "job.attempt": "\(ref.attempt)", "reason": "\(reason)"])
            stops[ref]?.fire()
        case .unspool(let ref):
            do {
                try spool.remove(ref)
            } catch {
                logger.error("cannot remove an acknowledged result from the spool", metadata: ["job.id": "\(ref.job)", "error": "\(error)"])
            }
            if core.spooled.isEmpty { acknowledged.resumeAll() }
        case .durable(let inner):
            perform(inner)
        case .spool:
            break
        }
    }

    /// Waits until every result handed to the spool is durable (shutdown).
    func flushSpool() async {
        await withCheckedContinuation { gate.resumeWhenDurable($0) }
        spool.flush()
    }

    private func start(_ assignment: Assignment) {
        guard engines[assignment.engine] != nil else { return }
        logger.debug("starting attempt", metadata: [
            "job.id": "\(assignment.ref.job)", "job.attempt": "\(assignment.ref.attempt)", "engine": "\(assignment.engine)",
            "job.model": "\(assignment.spec.model)",
        ])
        energy.start(assignment.ref, now: WallClock.now(), counter: counters.read())
        let stop = StopSignal()
        stops[assignment.ref] = stop
        starts.post((assignment, stop))
    }

    /// Graceful shutdown, step one: take no new work.
    func beginShutdown() {
        core.beginShutdown()
        logger.notice("shutting down: refusing new work, letting \(core.runningCount) running attempt(s) finish")
    }

    public var spooledCount: Int { core.spooled.count }

    /// The line systemd shows in `systemctl status`.
    public func statusLine() -> String {
        let all = options.coordinators.map(\.description).joined(separator: ",")
        let state = core.connected ? "connected to \(coordinator.map(\.description) ?? all)" : "connecting to \(all)"
        return "\(state); \(core.runningCount) running, \(core.spooled.count) results awaiting ack"
    }

    /// Stops every running attempt (shutdown); `waitUntilIdle` then sees them end.
    func stopAll() {
        for stop in stops.values { stop.fire() }
    }

    /// Returns once no attempt runs (at once if none does), or when cancelled.
    func waitUntilIdle() async {
        while core.runningCount > 0, !Task.isCancelled {
            await idle.wait(since: idle.generation)
        }
    }

    /// Returns once the coordinator acknowledged every spooled result, or when cancelled.
    func waitUntilAcknowledged() async {
        while !core.spooled.isEmpty, !Task.isCancelled {
            await acknowledged.wait(since: acknowledged.generation)
        }
    }
}
