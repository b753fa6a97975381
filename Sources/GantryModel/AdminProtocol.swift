/// Model-level control requests (gantryctl → coordinator) and their answers.

public enum NodeAction: String, Sendable, CaseIterable {
    case cordon, uncordon, drain
}

/// What a control token allows.
public enum Permission: String, Sendable, Comparable {
    case readOnly = "read-only"
    case admin

    public static func < (a: Permission, b: Permission) -> Bool { a == .readOnly && b == .admin }
}

public struct JobFilter: Hashable, Sendable {
    public var state: JobState?
    public var tenant: String?
    public var node: NodeID?
    /// The most jobs wanted (the server caps a page below this).
    public var limit: Int
    /// The page token: only jobs older than this one (jobs are listed newest first).
    public var before: JobID?

    public init(state: JobState? = nil, tenant: String? = nil, node: NodeID? = nil, limit: Int = 100, before: JobID? = nil) {
        self.state = state
        self.tenant = tenant
        self.node = node
        self.limit = limit
        self.before = before
    }
}

/// Pages of answers that grow with the cluster (jobs, nodes): the server's caps.
public enum Paging {
    /// The most items one page holds.
    public static let maxItems = 1000
    /// The most a page's items may add up to on the wire, by their `wireSizeEstimate`s:
    /// a page fits well inside the default 4 MiB frame every client accepts.
    public static let maxBytes = 1 << 20

    /// How many of `items` (each `size` bytes at most) fit one page.
    public static func fitting<T>(_ items: some Collection<T>, limit: Int, size: (T) -> Int) -> Int {
        var n = 0
        var bytes = 0
        for item in items {
            bytes += size(item)
            guard n < limit, n < maxItems, n == 0 || bytes <= maxBytes else { break }
            n += 1
        }
        return n
    }
}

public struct ReportQuery: Hashable, Sendable {
    public enum GroupBy: String, Sendable, CaseIterable { case node, pool, model, tenant }
    public var by: GroupBy
    public var from: Timestamp?
    public var to: Timestamp?
    /// Paging: the rows after this key (a previous page's `next`), at most `limit` of them
    /// (0: the server's page size).
    public var after: String?
    public var limit: Int

    public init(by: GroupBy, from: Timestamp? = nil, to: Timestamp? = nil, after: String? = nil, limit: Int = 0) {
        self.by = by
        self.from = from
        self.to = to
        self.after = after
        self.limit = limit
    }
}

public enum AdminRequest: Hashable, Sendable {
    case status
    /// Nodes by id after `after`, at most `limit` (0: a page's worth).
    case listNodes(after: NodeID? = nil, limit: Int = 0)
    case getNode(NodeID)
    case setNode(NodeID, NodeAction)
    /// Submit jobs; with `watch`, also stream their events (like `watchJob` for each).
    case submit([JobSpec], watch: Bool = false)
    case listJobs(JobFilter)
    case getJob(JobID)
    case cancelJob(JobID)
    case watchJob(JobID)
    case explainJob(JobID)
    case report(ReportQuery)
    /// A new API key; the answer holds the key itself, the only time it is shown.
    case createApiKey(ApiKeySpec)
    case listApiKeys
    case revokeApiKey(String)

    /// The least permission the request needs.
    public var requiredPermission: Permission {
        switch self {
        case .setNode, .submit, .cancelJob, .createApiKey, .listApiKeys, .revokeApiKey: .admin
        case .status, .listNodes, .getNode, .listJobs, .getJob, .watchJob, .explainJob, .report: .readOnly
        }
    }
}

/// A node as the control API shows it.
public struct NodeInfo: Hashable, Sendable {
    public var id: NodeID
    public var state: NodeState
    public var labels: Labels
    public var inventory: Inventory
    public var engines: [EngineStatus]
    public var cost: CostProfile
    public var costMicroUSDPerHour: Int64
    public var lastHeartbeat: Timestamp?
    public var connectedAt: Timestamp?
    public var address: String
    public var cordoned: Bool
    public var draining: Bool
    public var runningAttempts: Int

    public init(
        id: NodeID, state: NodeState, labels: Labels = [:], inventory: Inventory = Inventory(), engines: [EngineStatus] = [],
        cost: CostProfile = .free, costMicroUSDPerHour: Int64 = 0, lastHeartbeat: Timestamp? = nil, connectedAt: Timestamp? = nil,
        address: String = "", cordoned: Bool = false, draining: Bool = false, runningAttempts: Int = 0
    ) {
        self.id = id
        self.state = state
        self.labels = labels
        self.inventory = inventory
        self.engines = engines
        self.cost = cost
        self.costMicroUSDPerHour = costMicroUSDPerHour
        self.lastHeartbeat = lastHeartbeat
        self.connectedAt = connectedAt
        self.address = address
        self.cordoned = cordoned
        self.draining = draining
        self.runningAttempts = runningAttempts
    }
}

public struct ClusterStatus: Hashable, Sendable {
    public var software: String
    public var startedAt: Timestamp
    public var nodes: [NodeState: Int]
    public var jobs: [JobState: Int]
    public var queueDepth: Int
    public var tokensPerSecond: Double
    public var slotsTotal: Int
    public var slotsUsed: Int
    /// High availability: the leader (this gantryd), its epoch, the standbys. Empty with
    /// a SQLite store.
    public var leaderAddress = ""
    public var leaderEpoch: UInt64 = 0
    public var standbys: [String] = []

    public init(
        software: String = "", startedAt: Timestamp = .zero, nodes: [NodeState: Int] = [:], jobs: [JobState: Int] = [:],
        queueDepth: Int = 0, tokensPerSecond: Double = 0, slotsTotal: Int = 0, slotsUsed: Int = 0
    ) {
        self.software = software
        self.startedAt = startedAt
        self.nodes = nodes
        self.jobs = jobs
        self.queueDepth = queueDepth
        self.tokensPerSecond = tokensPerSecond
        self.slotsTotal = slotsTotal
        self.slotsUsed = slotsUsed
    }
}

/// One node's fate in a placement decision.
public struct NodeVerdict: Hashable, Sendable {
    public var node: NodeID
    /// The filter that rejected the node and why; nil when the node is feasible.
    public var rejection: Rejection?
    /// Per-scorer normalized scores (0...100), for feasible nodes.
    public var scores: [String: Double]
    public var total: Double
    public var engine: String

    public struct Rejection: Hashable, Sendable {
        public var filter: String
        public var reason: String
        public init(filter: String, reason: String) {
            self.filter = filter
            self.reason = reason
        }
    }

    public init(node: NodeID, rejection: Rejection? = nil, scores: [String: Double] = [:], total: Double = 0, engine: String = "") {
        self.node = node
        self.rejection = rejection
        self.scores = scores
        self.total = total
        self.engine = engine
    }

    public var feasible: Bool { rejection == nil }
}

public struct Explanation: Hashable, Sendable {
    public var job: JobID
    public var jobState: JobState
    public var evaluatedAt: Timestamp
    /// The pipeline run against the cluster as it is now.
    public var verdicts: [NodeVerdict]
    public var wouldChoose: NodeID?
    /// The decision that placed the current or last attempt.
    public var placedOn: NodeID?
    public var placedCandidates: [NodeVerdict]
    public var placedAt: Timestamp?
    public var weights: [String: Double]

    public init(
        job: JobID, jobState: JobState, evaluatedAt: Timestamp, verdicts: [NodeVerdict] = [], wouldChoose: NodeID? = nil,
        placedOn: NodeID? = nil, placedCandidates: [NodeVerdict] = [], placedAt: Timestamp? = nil, weights: [String: Double] = [:]
    ) {
        self.job = job
        self.jobState = jobState
        self.evaluatedAt = evaluatedAt
        self.verdicts = verdicts
        self.wouldChoose = wouldChoose
        self.placedOn = placedOn
        self.placedCandidates = placedCandidates
        self.placedAt = placedAt
        self.weights = weights
    }
}

/// A change to a watched job.
///
/// The `outputDelta`s since the last event with `outputReset` (or since the watch began),
/// concatenated, are the job's output so far; the final event's completes it.
public struct JobEvent: Hashable, Sendable {
    public var job: Job
    public var outputDelta: String
    public var final: Bool
    /// The output started over: discard what was received; `outputDelta` begins anew.
    public var outputReset: Bool

    public init(job: Job, outputDelta: String = "", final: Bool = false, outputReset: Bool = false) {
        self.job = job
        self.outputDelta = outputDelta
        self.final = final
        self.outputReset = outputReset
    }
}

public enum AdminResponse: Hashable, Sendable {
    case status(ClusterStatus)
    /// A page of nodes; `next` continues after it (nil: the last page).
    case nodes([NodeInfo], next: NodeID? = nil)
    case node(NodeInfo)
    case submitted([JobID])
    /// A page of jobs; `next` asks for the jobs older than these (nil: the last page).
    case jobs([Job], next: JobID? = nil)
    case job(Job)
    case explanation(Explanation)
    case report(Report)
    /// A key as listed (`secret` nil), or just created (`secret` is the whole key).
    case apiKey(ApiKey, key: String?)
    case apiKeys([ApiKey])
}
