import GantryModel

/// Ranks a feasible (node, engine) pair. Raw values are normalized across the candidates
/// of one decision to 0...100 (higher is better), then weighted.
public protocol PlacementScorer: Sendable {
    var name: String { get }
    /// The raw score of running the request on `engine` of `node`.
    func raw(_ node: PlacementNode, engine: PlacementEngine, for request: PlacementRequest) -> Double
    /// Maps the raw scores of all candidates to 0...100.
    func normalize(_ raw: [Double]) -> [Double]
}

extension PlacementScorer {
    /// Scorers whose raw score is already on the 0...100 scale.
    public func normalize(_ raw: [Double]) -> [Double] { raw }
}

/// Spreads work: prefers the engine with the largest share of free slots after placement.
public struct LeastLoadedScorer: PlacementScorer {
    public init() {}
    public var name: String { "least-loaded" }
    public func raw(_ node: PlacementNode, engine: PlacementEngine, for request: PlacementRequest) -> Double {
        guard engine.slots > 0 else { return 0 }
        return 100 * Double(engine.free - 1) / Double(engine.slots)
    }
}

/// Packs work: prefers the engine with the largest share of used slots after placement,
/// so whole nodes stay free for draining or scale-down.
public struct BinPackScorer: PlacementScorer {
    public init() {}
    public var name: String { "bin-pack" }
    public func raw(_ node: PlacementNode, engine: PlacementEngine, for request: PlacementRequest) -> Double {
        guard engine.slots > 0 else { return 0 }
        return 100 * Double(engine.used + 1) / Double(engine.slots)
    }
}

/// Prefers the lowest marginal cost per token: the node's $/h spread over the
/// engine's observed tokens/s across its slots. Nodes with no observation yet score in
/// the middle, so they get tried and learned.
public struct CostScorer: PlacementScorer {
    public init() {}
    public var name: String { "cost" }
    public func raw(_ node: PlacementNode, engine: PlacementEngine, for request: PlacementRequest) -> Double {
        let tokensPerHour = engine.tokensPerSecond * Double(max(engine.slots, 1)) * 3600
        guard tokensPerHour > 0 else { return -1 }
        // micro-dollars per token
        return Double(node.costMicroUSDPerHour) / tokensPerHour
    }

    public func normalize(_ raw: [Double]) -> [Double] {
        let known = raw.filter { $0 >= 0 }
        guard let best = known.min() else { return raw.map { _ in 50 } }
        return raw.map { r in
            if r < 0 { return 50 }
            if r == 0 { return 100 }
            return 100 * best / r
        }
    }
}

/// The weights an operator sets in `[placement]`; a zero weight turns a scorer off.
public struct ScoringWeights: Hashable, Sendable {
    public var leastLoaded: Double
    public var binPack: Double
    public var cost: Double

    public init(leastLoaded: Double = 1, binPack: Double = 0, cost: Double = 0) {
        self.leastLoaded = leastLoaded
        self.binPack = binPack
        self.cost = cost
    }

    public var asDictionary: [String: Double] {
        ["least-loaded": leastLoaded, "bin-pack": binPack, "cost": cost]
    }
}
