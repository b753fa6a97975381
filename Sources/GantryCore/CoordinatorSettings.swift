import GantryModel
public import GantryPlacement

/// The coordinator's tunables, from `gantryd.toml`.
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
    public var maxMaxTokens: Int = 131_072
    public var maxJobsPerSubmit: Int = 10_000
    /// Finished jobs kept in memory for `jobs ls/get` (the store keeps all of them).
    public var finishedJobsInMemory: Int = 100_000
    public var weights: ScoringWeights = ScoringWeights()
    public var software: String = "gantryd"
    /// With a store: emit `.persist` for every durable change and hold acknowledgements
    /// until they are durable (`.durable`).
    public var persistent = false

    public init() {}
}
