/// The coordinator core's tunables, parsed from `gantryd.toml` (see `CoordinatorConfig`);
/// the defaults here are the documented ones. A reload swaps the whole value.
public struct CoordinatorSettings: Hashable, Sendable {
    public var heartbeatIntervalMs: Int64 = 1000
    /// A node that sends no heartbeat for this long is `lost`.
    public var ttlMs: Int64 = 10_000
    /// An assignment the agent neither accepts nor rejects in this long is taken back.
    public var assignTimeoutMs: Int64 = 10_000
    /// Failed or lost attempts a job may have before it fails for good.
    public var maxAttempts: Int = 3
    public var maxQueued: Int = 1_000_000
    public var maxOutputBytes: Int = 1_048_576
    public var maxPromptBytes: Int = 1_048_576
    public var defaultMaxTokens: Int = 256
    public var maxTokensLimit: Int = 131_072
    public var maxJobsPerSubmit: Int = 10_000
    /// Finished jobs kept in memory for `jobs ls/get` (the store keeps all of them).
    public var finishedJobsInMemory: Int = 100_000
    public var weights: ScoringWeights = ScoringWeights()
    public var engineLimits: EngineLoadLimits = EngineLoadLimits()
    /// Prefix affinity hashes this many leading bytes of a prompt (or of its rendered chat
    /// messages), and remembers this many prefixes per model.
    public var prefixBytes: Int = 256
    public var prefixesPerModel: Int = 4096
    /// The window over which an engine's own generation-token counter is compared with
    /// the completion tokens on Gantry's receipts for it.
    public var driftWindowMs: Int64 = 300_000
    /// Feasible nodes a placement decision scores before it picks (0: every node).
    public var maxCandidates: Int = 4
    public var software: String = "gantryd"
    /// Cost profiles that replace what agents report, by node id or by label.
    public var costOverrides: [CostOverride] = []
    /// How often a node's idle cost is written to the store.
    public var idleFlushMs: Int64 = 60_000
    /// An attempt's start (assigned → running) is written to the store within this long,
    /// with the job's next change if that comes first: a short job is written twice (its
    /// assignment, its end), not three times. Nothing waits on it; a coordinator that
    /// restarts before it is written finds the attempt assigned, and the agent's
    /// registration says it runs.
    public var startFlushMs: Int64 = 50

    public init() {}
}

/// A cost profile set by the coordinator's config for a node, or for every node with a label.
public struct CostOverride: Hashable, Sendable {
    public enum Match: Hashable, Sendable {
        case node(NodeID)
        case label(key: String, value: String)
    }

    public var match: Match
    public var profile: CostProfile

    public init(match: Match, profile: CostProfile) {
        self.match = match
        self.profile = profile
    }
}

extension CoordinatorSettings {
    /// The profile that applies to a node: a node override, else the first matching label
    /// override, else what the agent reported.
    public func effectiveCost(node: NodeID, labels: Labels, reported: CostProfile) -> CostProfile {
        if let o = costOverrides.first(where: { $0.match == .node(node) }) { return o.profile }
        for o in costOverrides {
            if case .label(let k, let v) = o.match, labels[k] == v { return o.profile }
        }
        return reported
    }
}
