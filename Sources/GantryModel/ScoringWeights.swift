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
