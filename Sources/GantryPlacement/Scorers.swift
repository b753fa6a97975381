import GantryModel

/// One feasible (node, engine) pair as the scorers see it: plain numbers, so scoring
/// copies nothing that is reference counted.
public struct PlacementCandidate: Sendable {
    public var slots: Int
    public var used: Int
    /// Observed completion tokens per second per sequence (0 until observed).
    public var tokensPerSecond: Double
    public var costMicroUSDPerHour: Int64
    /// The engine's own queue and KV-cache use (nil: unknown), and whether it served the
    /// request's prompt prefix last.
    public var waiting: Int?
    public var kvUsage: Double?
    public var affinity: Bool
    /// Where the pair came from: an index into the decision's feasible nodes, and into
    /// that node's engines.
    var node: Int32
    var engine: Int32

    public init(
        slots: Int, used: Int, tokensPerSecond: Double = 0, costMicroUSDPerHour: Int64 = 0, waiting: Int? = nil, kvUsage: Double? = nil,
        affinity: Bool = false
    ) {
        self.slots = slots
        self.used = used
        self.tokensPerSecond = tokensPerSecond
        self.costMicroUSDPerHour = costMicroUSDPerHour
        self.waiting = waiting
        self.kvUsage = kvUsage
        self.affinity = affinity
        self.node = 0
        self.engine = 0
    }

    /// The candidate for `engine`, whose slot use counts other clients' requests too.
    init(_ engine: PlacementEngine, costMicroUSDPerHour: Int64, affinity: Bool, node: Int32, engine index: Int32) {
        self.init(
            slots: engine.slots, used: engine.effectiveUsed, tokensPerSecond: engine.tokensPerSecond, costMicroUSDPerHour: costMicroUSDPerHour,
            waiting: engine.waiting, kvUsage: engine.kvUsage, affinity: affinity)
        self.node = node
        self.engine = index
    }

    public var free: Int { max(0, slots - used) }
}

/// Ranks a feasible (node, engine) pair. Raw values are normalized across the candidates
/// of one decision to 0...100 (higher is better), then weighted.
public protocol PlacementScorer: Sendable {
    var name: String { get }
    /// The raw score of running the request on this candidate.
    func raw(_ candidate: PlacementCandidate, for request: PlacementRequest) -> Double
    /// Maps the raw scores of all candidates to 0...100, in place.
    func normalize(_ scores: inout ArraySlice<Double>)
}

extension PlacementScorer {
    /// Scorers whose raw score is already on the 0...100 scale.
    public func normalize(_ scores: inout ArraySlice<Double>) {}
}

/// Spreads work: prefers the engine with the largest share of free slots after placement.
public struct LeastLoadedScorer: PlacementScorer {
    public init() {}
    public var name: String { "least-loaded" }
    public func raw(_ c: PlacementCandidate, for request: PlacementRequest) -> Double {
        guard c.slots > 0 else { return 0 }
        return 100 * Double(c.free - 1) / Double(c.slots)
    }
}

/// Packs work: prefers the engine with the largest share of used slots after placement,
/// so whole nodes stay free for draining or scale-down.
public struct BinPackScorer: PlacementScorer {
    public init() {}
    public var name: String { "bin-pack" }
    public func raw(_ c: PlacementCandidate, for request: PlacementRequest) -> Double {
        guard c.slots > 0 else { return 0 }
        return 100 * Double(c.used + 1) / Double(c.slots)
    }
}

/// Prefers the lowest marginal cost per token: the node's $/h spread over the
/// engine's observed tokens/s across its slots. Nodes with no observation yet score in
/// the middle, so they get tried and learned.
public struct CostScorer: PlacementScorer {
    public init() {}
    public var name: String { "cost" }
    public func raw(_ c: PlacementCandidate, for request: PlacementRequest) -> Double {
        let tokensPerHour = c.tokensPerSecond * Double(max(c.slots, 1)) * 3600
        guard tokensPerHour > 0 else { return -1 }
        // micro-dollars per token
        return Double(c.costMicroUSDPerHour) / tokensPerHour
    }

    public func normalize(_ scores: inout ArraySlice<Double>) {
        var best = Double.infinity
        for r in scores where r >= 0 { best = min(best, r) }
        for i in scores.indices {
            let r = scores[i]
            scores[i] = best == .infinity || r < 0 ? 50 : r == 0 ? 100 : 100 * best / r
        }
    }
}

/// Prefers the engine with the shortest queue of its own (engine telemetry).
public struct EngineQueueScorer: PlacementScorer {
    public init() {}
    public var name: String { "engine-queue" }
    public func raw(_ c: PlacementCandidate, for request: PlacementRequest) -> Double {
        c.waiting.map { Double(max(0, $0)) } ?? -1
    }

    public func normalize(_ scores: inout ArraySlice<Double>) {
        var longest = 0.0
        for r in scores { longest = max(longest, r) }
        for i in scores.indices where scores[i] >= 0 {
            scores[i] = longest == 0 ? 100 : 100 * (1 - scores[i] / longest)
        }
        fillUnknown(&scores)
    }
}

/// Prefers the engine with the least KV-cache use (engine telemetry).
public struct KVUsageScorer: PlacementScorer {
    public init() {}
    public var name: String { "kv-usage" }
    public func raw(_ c: PlacementCandidate, for request: PlacementRequest) -> Double {
        guard let kv = c.kvUsage else { return -1 }
        return 100 * (1 - min(1, max(0, kv)))
    }

    public func normalize(_ scores: inout ArraySlice<Double>) { fillUnknown(&scores) }
}

/// An engine that reports no figure (no telemetry, or not yet) scores as the others do on
/// average, so a missing figure neither wins nor loses a decision: slots decide, as
/// they did before engines reported anything.
func fillUnknown(_ scores: inout ArraySlice<Double>) {
    var sum = 0.0
    var known = 0
    for r in scores where r >= 0 {
        sum += r
        known += 1
    }
    let mean = known == 0 ? 100 : sum / Double(known)
    for i in scores.indices where scores[i] < 0 { scores[i] = mean }
}

/// Prefers the engine that served the request's prompt prefix last, whose prompt cache
/// likely still holds it.
public struct PrefixAffinityScorer: PlacementScorer {
    public init() {}
    public var name: String { "prefix-affinity" }
    public func raw(_ c: PlacementCandidate, for request: PlacementRequest) -> Double {
        c.affinity ? 100 : 0
    }
}
