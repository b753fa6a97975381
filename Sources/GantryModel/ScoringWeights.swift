/// The weights an operator sets in `[placement]`; a zero weight turns a scorer off.
public struct ScoringWeights: Hashable, Sendable {
    public var leastLoaded: Double
    public var binPack: Double
    public var cost: Double
    /// Engine telemetry: prefer engines with a shorter queue of their own, and less KV-cache use.
    public var engineQueue: Double
    public var kvUsage: Double
    /// Prefer the engine that served the prompt's prefix last (its prompt cache holds it).
    public var prefixAffinity: Double

    public init(
        leastLoaded: Double = 1, binPack: Double = 0, cost: Double = 0, engineQueue: Double = 0.5, kvUsage: Double = 0.5,
        prefixAffinity: Double = 1
    ) {
        self.leastLoaded = leastLoaded
        self.binPack = binPack
        self.cost = cost
        self.engineQueue = engineQueue
        self.kvUsage = kvUsage
        self.prefixAffinity = prefixAffinity
    }

    public var asDictionary: [String: Double] {
        [
            "least-loaded": leastLoaded, "bin-pack": binPack, "cost": cost, "engine-queue": engineQueue, "kv-usage": kvUsage,
            "prefix-affinity": prefixAffinity,
        ]
    }
}

/// When an engine's own figures say it is full: it then takes no new work, whatever its
/// free slots (`[placement] kv_high_watermark`, `max_engine_queue`).
public struct EngineLoadLimits: Hashable, Sendable {
    /// KV-cache use (0...1) above which an engine takes no new work.
    public var kvHighWatermark: Double
    /// Requests waiting in an engine's own queue above which it takes no new work.
    public var maxEngineQueue: Int

    public init(kvHighWatermark: Double = 0.95, maxEngineQueue: Int = 8) {
        self.kvHighWatermark = kvHighWatermark
        self.maxEngineQueue = maxEngineQueue
    }
}
