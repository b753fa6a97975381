/// One row of the usage ledger: what one finished attempt consumed. Exactly one row
/// exists per (job, attempt) that ended with a result from its agent.
public struct LedgerEntry: Hashable, Sendable {
    public var job: JobID
    public var attempt: UInt32
    public var node: NodeID
    public var engine: String
    public var model: String
    public var tenant: String
    public var outcome: Outcome
    public var promptTokens: Int
    public var completionTokens: Int
    public var tokensEstimated: Bool
    public var startedAt: Timestamp
    public var finishedAt: Timestamp
    /// The node's `pool` label when the attempt ran ("" if none).
    public var pool: String
    /// What the attempt cost.
    public var receipt: Receipt

    public init(
        job: JobID, attempt: UInt32, node: NodeID, engine: String, model: String, tenant: String, outcome: Outcome,
        promptTokens: Int, completionTokens: Int, tokensEstimated: Bool, startedAt: Timestamp, finishedAt: Timestamp,
        pool: String = "", receipt: Receipt = Receipt()
    ) {
        self.pool = pool
        self.receipt = receipt
        self.job = job
        self.attempt = attempt
        self.node = node
        self.engine = engine
        self.model = model
        self.tenant = tenant
        self.outcome = outcome
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.tokensEstimated = tokensEstimated
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

/// What the coordinator keeps about a node across restarts: its identity, what it
/// reported, and the operator's cordon/drain intent.
public struct PersistedNode: Hashable, Sendable {
    public var id: NodeID
    public var labels: Labels
    public var inventory: Inventory
    public var engines: [EngineStatus]
    public var cost: CostProfile
    public var cordoned: Bool
    public var draining: Bool
    public var lastSeen: Timestamp

    public init(id: NodeID, labels: Labels, inventory: Inventory, engines: [EngineStatus], cost: CostProfile, cordoned: Bool, draining: Bool, lastSeen: Timestamp) {
        self.id = id
        self.labels = labels
        self.inventory = inventory
        self.engines = engines
        self.cost = cost
        self.cordoned = cordoned
        self.draining = draining
        self.lastSeen = lastSeen
    }
}
