public import GantryModel
import GantryPlacement
import GantryAccounting
import DequeModule

/// The coordinator's brain: membership, the job queue, placement and the job lifecycle.
///
/// It is a value with no I/O and no clock. The shell feeds it events (`agentRegistered`,
/// `agentMessage`, `admin`, `tick`…) with the current time, and carries out the
/// directives it returns, in order. In the style of swift-cluster-membership's
/// `SWIM.Instance`.
public struct CoordinatorCore: Sendable {
    public internal(set) var settings: CoordinatorSettings
    public let startedAt: Timestamp
    var pipeline: PlacementPipeline

    var nodes = NodeTable()
    var sessionNodes: [SessionID: NodeID] = [:]
    /// Nodes per model served, so a decision only looks at nodes that could run the job.
    var nodesByModel: [String: NodeRing] = [:]

    var jobs: [JobID: JobRecord] = [:]
    var queue = JobQueue()
    var idGenerator = JobIDGenerator()
    var finishedOrder: Deque<JobID> = []
    /// Assignments not yet accepted, oldest first (see `expireAssignments`).
    var assignDeadlines = AssignDeadlines()
    /// Jobs by state: unfinished ones as they are now; finished ones since this process
    /// loaded its state, including those since pruned from memory.
    var jobCounts: [JobState: Int] = [:]

    /// Bumped whenever capacity may have grown; a shape that found no node is not
    /// tried again until it changes.
    var capacityEpoch: UInt64 = 0
    var blockedShapes: [JobQueue.Shape: UInt64] = [:]
    /// High availability: this coordinator's leadership, as the shell reported it.
    struct Leadership: Sendable {
        var address: String
        var epoch: UInt64
        var standbys: [String]
    }
    var leadership: Leadership?
    /// Prefix affinity: by model, the engine that served each prompt prefix last.
    var prefixes: [String: PrefixTable] = [:]

    var watchers: [JobID: [Watcher]] = [:]
    /// API keys by id, and each key's requests not yet finished.
    var apiKeys: [String: ApiKey] = [:]
    var apiInflight: [String: Int] = [:]
    var pendingKeys: [ApiKey] = []
    /// Changes not yet handed to the store (see `finish(_:)`).
    var dirtyJobs: Set<JobID> = []
    var dirtyNodes: Set<NodeID> = []
    /// Jobs whose only unwritten change is an attempt's start, written by `startsDue`
    /// (see `CoordinatorSettings.startFlushMs`) or with their next change.
    var startedJobs: Set<JobID> = []
    var startsDue: Timestamp?
    var pendingLedger: [LedgerEntry] = []
    var pendingIdle: [IdleAccrual] = []
    var pendingNotices: [Notice] = []
    var throughput = ThroughputMeter()

    struct Watcher: Hashable, Sendable {
        var session: SessionID
        var requestID: UInt64
    }

    public init(settings: CoordinatorSettings = CoordinatorSettings(), now: Timestamp) {
        self.settings = settings
        self.startedAt = now
        self.pipeline = .standard(weights: settings.weights, limits: settings.engineLimits)
    }

    /// Applies new settings (SIGHUP). Queued and running work is untouched.
    public mutating func reconfigure(_ settings: CoordinatorSettings, now: Timestamp) {
        self.settings = settings
        self.pipeline = .standard(weights: settings.weights, limits: settings.engineLimits)
        // Cost overrides may have changed: re-rate every node from now on.
        for id in nodes.ids {
            let node = nodes[id]!
            let cost = settings.effectiveCost(node: id, labels: node.labels, reported: node.cost)
            nodes[id]!.effectiveCost = cost
            nodes[id]!.meter.setRates(CostRates(cost), now: now)
        }
        capacityEpoch &+= 1
    }

    // MARK: Queries (pure reads for the shell: health checks, metrics, status lines)

    public var queueDepth: Int { queue.count }
    public var nodeCount: Int { nodes.count }
    public func nodeState(_ id: NodeID) -> NodeState? { nodes[id]?.state }
    public func job(_ id: JobID) -> Job? { jobs[id]?.job }
    public func count(of state: JobState) -> Int { jobCounts[state] ?? 0 }
    public func nodeCount(in state: NodeState) -> Int { nodes.values.reduce(0) { $0 + ($1.state == state ? 1 : 0) } }
    public func tokensPerSecond(now: Timestamp) -> Double { throughput.rate(now: now) }
}

/// Completion tokens over the last 10 seconds, in one-second buckets.
struct ThroughputMeter: Sendable {
    private var buckets = [Int64](repeating: 0, count: 10)
    private var bucketSecond = [Int64](repeating: -1, count: 10)

    mutating func add(_ tokens: Int, now: Timestamp) {
        let second = now.unixMillis / 1000
        let i = Int(second % 10)
        if bucketSecond[i] != second {
            bucketSecond[i] = second
            buckets[i] = 0
        }
        buckets[i] += Int64(tokens)
    }

    func rate(now: Timestamp) -> Double {
        let second = now.unixMillis / 1000
        var sum: Int64 = 0
        for i in 0..<10 where bucketSecond[i] > second - 10 && bucketSecond[i] < second { sum += buckets[i] }
        return Double(sum) / 9
    }
}
