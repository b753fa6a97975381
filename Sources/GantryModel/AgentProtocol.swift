/// Model-level messages between an agent and the coordinator. The wire module maps
/// them to and from protobuf; nothing else sees the generated types.

public struct Registration: Hashable, Sendable {
    public var nodeID: NodeID
    public var labels: Labels
    public var inventory: Inventory
    public var engines: [EngineStatus]
    public var cost: CostProfile
    /// Attempts the agent is still running.
    public var running: [AttemptRef]
    /// Results the agent holds unacknowledged in its spool.
    public var spooled: [AttemptRef]
    public var software: String
    /// The agent wants its heartbeats acknowledged (to notice a silent coordinator).
    public var heartbeatAcks = false

    public init(
        nodeID: NodeID, labels: Labels = [:], inventory: Inventory = Inventory(), engines: [EngineStatus] = [],
        cost: CostProfile = .free, running: [AttemptRef] = [], spooled: [AttemptRef] = [], software: String = ""
    ) {
        self.nodeID = nodeID
        self.labels = labels
        self.inventory = inventory
        self.engines = engines
        self.cost = cost
        self.running = running
        self.spooled = spooled
        self.software = software
    }
}

public struct Registered: Hashable, Sendable {
    public var nodeID: NodeID
    public var state: NodeState
    /// Attempts from `Registration.running` the coordinator no longer wants.
    public var cancel: [AttemptRef]
    /// The coordinator will acknowledge every heartbeat.
    public var heartbeatAcks = false

    public init(nodeID: NodeID, state: NodeState, cancel: [AttemptRef] = []) {
        self.nodeID = nodeID
        self.state = state
        self.cancel = cancel
    }
}

public struct EnergyCounter: Hashable, Sendable {
    public var millijoules: UInt64
    public var sources: Int

    public init(millijoules: UInt64, sources: Int) {
        self.millijoules = millijoules
        self.sources = sources
    }
}

public struct GPUStats: Hashable, Sendable {
    public var index: Int
    public var utilizationPercent: Int
    public var powerMilliwatts: Int
    public var energyMillijoules: UInt64?
    public var memoryUsedBytes: UInt64

    public init(index: Int, utilizationPercent: Int = 0, powerMilliwatts: Int = 0, energyMillijoules: UInt64? = nil, memoryUsedBytes: UInt64 = 0) {
        self.index = index
        self.utilizationPercent = utilizationPercent
        self.powerMilliwatts = powerMilliwatts
        self.energyMillijoules = energyMillijoules
        self.memoryUsedBytes = memoryUsedBytes
    }
}

public struct HostStats: Hashable, Sendable {
    public var gpus: [GPUStats]
    /// Monotonic counters; nil where the host has none.
    public var gpuEnergy: EnergyCounter?
    public var cpuEnergy: EnergyCounter?
    public var load1: Double
    public var memoryAvailableBytes: UInt64
    /// The agent's energy meter: cumulative energy since the agent started, in all and
    /// while no slot was held (measured from the counters, else estimated).
    public var totalEnergyMillijoules: UInt64
    public var idleEnergyMillijoules: UInt64
    public var energyMeasured: Bool

    public init(
        gpus: [GPUStats] = [], gpuEnergy: EnergyCounter? = nil, cpuEnergy: EnergyCounter? = nil, load1: Double = 0,
        memoryAvailableBytes: UInt64 = 0, totalEnergyMillijoules: UInt64 = 0, idleEnergyMillijoules: UInt64 = 0, energyMeasured: Bool = false
    ) {
        self.gpus = gpus
        self.gpuEnergy = gpuEnergy
        self.cpuEnergy = cpuEnergy
        self.load1 = load1
        self.memoryAvailableBytes = memoryAvailableBytes
        self.totalEnergyMillijoules = totalEnergyMillijoules
        self.idleEnergyMillijoules = idleEnergyMillijoules
        self.energyMeasured = energyMeasured
    }
}

public struct Heartbeat: Hashable, Sendable {
    public var seq: UInt64
    public var sentAt: Timestamp
    public var engines: [EngineStatus]
    public var stats: HostStats

    public init(seq: UInt64, sentAt: Timestamp, engines: [EngineStatus], stats: HostStats = HostStats()) {
        self.seq = seq
        self.sentAt = sentAt
        self.engines = engines
        self.stats = stats
    }
}

public struct Assignment: Hashable, Sendable {
    public var ref: AttemptRef
    public var engine: String
    public var spec: JobSpec
    public var submittedAt: Timestamp

    public init(ref: AttemptRef, engine: String, spec: JobSpec, submittedAt: Timestamp) {
        self.ref = ref
        self.engine = engine
        self.spec = spec
        self.submittedAt = submittedAt
    }
}

public struct JobProgress: Hashable, Sendable {
    public var ref: AttemptRef
    public var outputDelta: String
    public var completionTokens: Int
    public var firstTokenAt: Timestamp?

    public init(ref: AttemptRef, outputDelta: String, completionTokens: Int, firstTokenAt: Timestamp? = nil) {
        self.ref = ref
        self.outputDelta = outputDelta
        self.completionTokens = completionTokens
        self.firstTokenAt = firstTokenAt
    }
}

public enum Outcome: String, Hashable, Sendable {
    case succeeded, failed, cancelled
}

public struct AttemptResult: Hashable, Sendable {
    public var ref: AttemptRef
    public var outcome: Outcome
    public var output: String
    public var usage: Usage
    public var error: String?
    public var engine: String
    public var startedAt: Timestamp
    public var firstTokenAt: Timestamp?
    public var finishedAt: Timestamp
    public var simulated: Bool
    public var energyMillijoules: UInt64
    public var energyMeasured: Bool
    public var outputTruncated: Bool
    /// Why generation stopped, as the engine said ("stop", "length", …).
    public var finishReason: String?

    public init(
        ref: AttemptRef, outcome: Outcome, output: String = "", usage: Usage = Usage(), error: String? = nil,
        engine: String = "", startedAt: Timestamp, firstTokenAt: Timestamp? = nil, finishedAt: Timestamp,
        simulated: Bool = false, energyMillijoules: UInt64 = 0, energyMeasured: Bool = false, outputTruncated: Bool = false,
        finishReason: String? = nil
    ) {
        self.ref = ref
        self.outcome = outcome
        self.output = output
        self.usage = usage
        self.error = error
        self.engine = engine
        self.startedAt = startedAt
        self.firstTokenAt = firstTokenAt
        self.finishedAt = finishedAt
        self.simulated = simulated
        self.energyMillijoules = energyMillijoules
        self.energyMeasured = energyMeasured
        self.outputTruncated = outputTruncated
        self.finishReason = finishReason
    }
}

/// Agent → coordinator, after the handshake.
public enum AgentMessage: Hashable, Sendable {
    case register(Registration)
    case heartbeat(Heartbeat)
    case accept(AttemptRef)
    case reject(AttemptRef, reason: String)
    case progress(JobProgress)
    case result(AttemptResult)
}

/// Coordinator → agent, after the handshake.
public enum CoordinatorMessage: Hashable, Sendable {
    case registered(Registered)
    case assign(Assignment)
    case cancel(AttemptRef, reason: String)
    case ack(AttemptRef)
    case heartbeatAck(seq: UInt64)
}
