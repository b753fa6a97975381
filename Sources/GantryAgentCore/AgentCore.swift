public import GantryModel

/// The agent's brain: which attempts run where, what the coordinator has acknowledged,
/// and what to tell it on every (re)connect. Pure: the shell supplies time and host
/// readings and carries out the directives.
public struct AgentCore: Sendable {
    public struct EngineSlot: Hashable, Sendable {
        public var spec: EngineStatus
        public var running: Int = 0
        /// The health probe's verdict; `spec.healthy` also needs telemetry scrapes to succeed.
        var probeHealthy: Bool
        var probeDetail: String

        public init(spec: EngineStatus) {
            self.spec = spec
            self.probeHealthy = spec.healthy
            self.probeDetail = spec.healthDetail
        }

        /// Scrapes failing this many times in a row make an engine unhealthy, as a failed
        /// probe does.
        public static let scrapeFailuresTolerated = 3

        /// Healthy when the probe passes and the telemetry (if any) is being read.
        mutating func settle() {
            if let t = spec.telemetry, t.failures >= Self.scrapeFailuresTolerated {
                spec.healthy = false
                spec.healthDetail = "its metrics could not be read \(t.failures) times in a row"
            } else {
                spec.healthy = probeHealthy
                spec.healthDetail = probeDetail
            }
        }
    }

    struct Running: Hashable, Sendable {
        var assignment: Assignment
        var cancelRequested: Bool
    }

    public let nodeID: NodeID
    public var labels: Labels
    public var inventory: Inventory
    public var cost: CostProfile
    public let software: String
    public private(set) var engines: [EngineSlot]
    var running: [AttemptRef: Running] = [:]
    /// Results written to the spool and not yet acknowledged.
    public private(set) var spooled: [AttemptRef: AttemptResult] = [:]
    public private(set) var connected = false
    /// Set when the agent is shutting down: new assignments are refused.
    public private(set) var shuttingDown = false
    public private(set) var heartbeatIntervalMs: Int64 = 1000
    var lastHeartbeat: Timestamp = .zero
    var heartbeatSeq: UInt64 = 0
    /// When the coordinator last sent anything, whether it answered the registration, and
    /// whether it acknowledges heartbeats (so that its silence means something).
    var lastHeard: Timestamp = .zero
    var registered = false
    var coordinatorAcks = false

    public init(nodeID: NodeID, labels: Labels, inventory: Inventory, cost: CostProfile, engines: [EngineStatus], software: String) {
        self.nodeID = nodeID
        self.labels = labels
        self.inventory = inventory
        self.cost = cost
        self.engines = engines.map(EngineSlot.init)
        self.software = software
    }

    public var runningCount: Int { running.count }
    public func isRunning(_ ref: AttemptRef) -> Bool { running[ref] != nil }

    /// Results found in the spool at start-up: they are re-sent on every connect until acked.
    public mutating func restore(spooled results: [AttemptResult]) {
        for r in results { spooled[r.ref] = r }
    }

    /// Engines as reported: live slot use and health.
    public var engineStatuses: [EngineStatus] {
        engines.map {
            var s = $0.spec
            s.slotsUsed = $0.running
            return s
        }
    }

    // MARK: connection

    /// The handshake succeeded: register (with what is running and what is spooled), then
    /// re-send every unacknowledged result.
    public mutating func connected(heartbeatIntervalMs: Int64, now: Timestamp) -> [AgentDirective] {
        connected = true
        self.heartbeatIntervalMs = max(50, heartbeatIntervalMs)
        lastHeartbeat = now
        lastHeard = now
        registered = false
        coordinatorAcks = false
        var registration = Registration(
            nodeID: nodeID, labels: labels, inventory: inventory, engines: engineStatuses, cost: cost,
            running: running.keys.sorted(by: refOrder), spooled: spooled.keys.sorted(by: refOrder), software: software)
        registration.heartbeatAcks = true
        var out: [AgentDirective] = [.send(.register(registration))]
        for ref in spooled.keys.sorted(by: refOrder) { out.append(.durable(.send(.result(spooled[ref]!)))) }
        return out
    }

    public mutating func disconnected() {
        connected = false
    }

    // MARK: heartbeats

    public func heartbeatDue(now: Timestamp) -> Bool {
        connected && now - lastHeartbeat >= heartbeatIntervalMs
    }

    /// How long a coordinator that acknowledges heartbeats may stay silent: three intervals
    /// (at least two seconds).
    public var silenceLimitMs: Int64 { max(3 * heartbeatIntervalMs, 2000) }

    /// The coordinator acknowledges heartbeats, or has not answered the registration yet
    /// (every version answers it), and has said nothing for `silenceLimitMs`: it is paused
    /// or cut off (another may lead now). The agent should drop the connection. (A
    /// coordinator frozen between the handshake and its answer used to hold the agent
    /// forever: whether it acks is only known from that answer.)
    public func coordinatorSilent(now: Timestamp) -> Bool {
        connected && (coordinatorAcks || !registered) && now - lastHeard > silenceLimitMs
    }

    public mutating func heartbeat(stats: HostStats, now: Timestamp) -> [AgentDirective] {
        guard connected else { return [] }
        lastHeartbeat = now
        heartbeatSeq += 1
        return [.send(.heartbeat(Heartbeat(seq: heartbeatSeq, sentAt: now, engines: engineStatuses, stats: stats)))]
    }

    // MARK: coordinator messages

    public mutating func received(_ message: CoordinatorMessage, now: Timestamp) -> [AgentDirective] {
        lastHeard = now
        switch message {
        case .registered(let r):
            registered = true
            coordinatorAcks = r.heartbeatAcks
            return r.cancel.flatMap { stop($0, reason: "the coordinator no longer wants this attempt") }
        case .heartbeatAck:
            return []
        case .assign(let a):
            return assign(a)
        case .cancel(let ref, let reason):
            return stop(ref, reason: reason)
        case .ack(let ref):
            guard spooled.removeValue(forKey: ref) != nil else { return [] }
            return [.unspool(ref)]
        }
    }

    /// Graceful shutdown: refuse new work; running attempts may finish.
    public mutating func beginShutdown() {
        shuttingDown = true
    }

    mutating func assign(_ a: Assignment) -> [AgentDirective] {
        if running[a.ref] != nil { return [.send(.accept(a.ref))] }
        if let r = spooled[a.ref] { return [.durable(.send(.result(r)))] }
        if shuttingDown { return [.send(.reject(a.ref, reason: "the agent on \(nodeID) is shutting down"))] }
        guard let i = engines.firstIndex(where: { $0.spec.name == a.engine }) else {
            return [.send(.reject(a.ref, reason: "no engine named '\(a.engine)' on node \(nodeID)"))]
        }
        let engine = engines[i]
        guard engine.spec.serves(a.spec.model) else {
            return [.send(.reject(a.ref, reason: "engine '\(a.engine)' does not serve model \(a.spec.model)"))]
        }
        guard engine.spec.healthy else {
            return [.send(.reject(a.ref, reason: "engine '\(a.engine)' is unhealthy: \(engine.spec.healthDetail)"))]
        }
        guard engine.running < engine.spec.slots else {
            return [.send(.reject(a.ref, reason: "engine '\(a.engine)' has no free slot (\(engine.running)/\(engine.spec.slots))"))]
        }
        engines[i].running += 1
        running[a.ref] = Running(assignment: a, cancelRequested: false)
        return [.send(.accept(a.ref)), .start(a)]
    }

    mutating func stop(_ ref: AttemptRef, reason: String) -> [AgentDirective] {
        guard var r = running[ref], !r.cancelRequested else { return [] }
        r.cancelRequested = true
        running[ref] = r
        return [.stop(ref, reason: reason)]
    }

    // MARK: engine events

    /// Generated text since the last progress (the shell throttles to ≤ 10/s).
    public func progress(_ p: JobProgress) -> [AgentDirective] {
        guard connected, let r = running[p.ref], !r.cancelRequested else { return [] }
        return [.send(.progress(p))]
    }

    /// An attempt ended: spool the result, and send it once that is durable.
    public mutating func finished(_ result: AttemptResult) -> [AgentDirective] {
        guard let r = running.removeValue(forKey: result.ref) else { return [] }
        if let i = engines.firstIndex(where: { $0.spec.name == r.assignment.engine }) { engines[i].running -= 1 }
        var result = result
        if r.cancelRequested && result.outcome == .failed { result.outcome = .cancelled }
        spooled[result.ref] = result
        var out: [AgentDirective] = [.spool(result)]
        if connected { out.append(.durable(.send(.result(result)))) }
        return out
    }

    /// A health probe's verdict. Returns true if the engine's health changed.
    public mutating func setHealth(engine name: String, healthy: Bool, detail: String) -> Bool {
        guard let i = engines.firstIndex(where: { $0.spec.name == name }) else { return false }
        let before = engines[i].spec.healthy
        engines[i].probeHealthy = healthy
        engines[i].probeDetail = detail
        engines[i].settle()
        return engines[i].spec.healthy != before
    }

    /// A telemetry scrape's result (heartbeats carry it). Returns true if the engine's health
    /// changed (scrapes failing three times in a row make it unhealthy).
    public mutating func setTelemetry(engine name: String, _ telemetry: EngineTelemetry?) -> Bool {
        guard let i = engines.firstIndex(where: { $0.spec.name == name }) else { return false }
        let before = engines[i].spec.healthy
        engines[i].spec.telemetry = telemetry
        engines[i].settle()
        return engines[i].spec.healthy != before
    }
}

private func refOrder(_ a: AttemptRef, _ b: AttemptRef) -> Bool {
    a.job != b.job ? a.job < b.job : a.attempt < b.attempt
}
