public import GantryModel

/// The slice of a node that placement looks at: an immutable value taken from the
/// coordinator's state. Slot use here is the coordinator's own count of assigned and
/// running attempts (assumed + confirmed), never the agent's lagging report.
public struct PlacementNode: Hashable, Sendable {
    public var id: NodeID
    public var state: NodeState
    /// False while the node's agent is disconnected (it may still come back before `ttl`).
    public var connected: Bool
    public var labels: Labels
    public var engines: [PlacementEngine]
    /// The node's cost in micro-dollars per hour, for cost-aware scoring.
    public var costMicroUSDPerHour: Int64

    public init(
        id: NodeID, state: NodeState, connected: Bool = true, labels: Labels = [:], engines: [PlacementEngine],
        costMicroUSDPerHour: Int64 = 0
    ) {
        self.id = id
        self.state = state
        self.connected = connected
        self.labels = labels
        self.engines = engines
        self.costMicroUSDPerHour = costMicroUSDPerHour
    }

    public var slotsTotal: Int { engines.reduce(0) { $0 + ($1.healthy ? $1.slots : 0) } }
    public var slotsUsed: Int { engines.reduce(0) { $0 + $1.used } }
}

public struct PlacementEngine: Hashable, Sendable {
    public var name: String
    public var models: [String]
    public var slots: Int
    public var used: Int
    public var healthy: Bool
    /// Observed completion tokens per second per sequence for this engine, learned online
    /// (0 until something was observed).
    public var tokensPerSecond: Double
    /// What the engine itself reports (nil: unknown, or no telemetry): requests it runs
    /// that are not Gantry's (another client's), its own queue, its KV-cache use (0...1).
    public var outside: Int
    public var waiting: Int?
    public var kvUsage: Double?

    public init(
        name: String, models: [String], slots: Int, used: Int = 0, healthy: Bool = true, tokensPerSecond: Double = 0,
        outside: Int = 0, waiting: Int? = nil, kvUsage: Double? = nil
    ) {
        self.name = name
        self.models = models
        self.slots = slots
        self.used = used
        self.healthy = healthy
        self.tokensPerSecond = tokensPerSecond
        self.outside = outside
        self.waiting = waiting
        self.kvUsage = kvUsage
    }

    /// Slots in use as the engine sees them: Gantry's attempts plus other clients'
    /// requests, that is max(Gantry's running attempts, the engine's running requests)
    /// with the engine's figure taken when it was scraped, so a slot Gantry has just
    /// freed is free at once rather than after the next scrape.
    public var effectiveUsed: Int { used + outside }
    public var free: Int { healthy ? max(0, slots - effectiveUsed) : 0 }
    public func serves(_ model: String) -> Bool { models.contains(model) }
}

/// What placement needs to know about a job.
public struct PlacementRequest: Hashable, Sendable {
    public var model: String
    public var constraints: Labels
    public var maxTokens: Int
    /// The engine that served this request's prompt prefix last (prefix affinity), if any.
    public var affinity: EngineRef?

    public init(model: String, constraints: Labels = [:], maxTokens: Int = 0, affinity: EngineRef? = nil) {
        self.model = model
        self.constraints = constraints
        self.maxTokens = maxTokens
        self.affinity = affinity
    }

    public init(_ spec: JobSpec, affinity: EngineRef? = nil) {
        self.init(model: spec.model, constraints: spec.constraints, maxTokens: spec.maxTokens, affinity: affinity)
    }
}
