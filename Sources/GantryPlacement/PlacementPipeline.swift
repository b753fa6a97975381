public import GantryModel

/// The one placement pipeline: filter → score → select, in the spirit of Nomad's
/// `GenericStack` and kube-scheduler's Filter/Score/NormalizeScore.
///
/// It is pure and deterministic: the same nodes and request give the same decision.
/// Every rejected node carries the filter and the reason; the winner carries its scores.
public struct PlacementPipeline: Sendable {
    public let filters: [any PlacementFilter]
    public let scorers: [(scorer: any PlacementScorer, weight: Double)]

    public init(filters: [any PlacementFilter], scorers: [(scorer: any PlacementScorer, weight: Double)]) {
        self.filters = filters
        self.scorers = scorers.filter { $0.weight > 0 }
    }

    /// The pipeline gantryd runs. This is the only place it is assembled.
    public static func standard(weights: ScoringWeights = ScoringWeights()) -> PlacementPipeline {
        var scorers: [(scorer: any PlacementScorer, weight: Double)] = [
            (LeastLoadedScorer(), weights.leastLoaded),
            (BinPackScorer(), weights.binPack),
            (CostScorer(), weights.cost),
        ]
        if scorers.allSatisfy({ $0.weight <= 0 }) { scorers[0].weight = 1 }
        return PlacementPipeline(
            filters: [NodeStateFilter(), ConstraintFilter(), ModelFilter(), EngineHealthFilter(), CapacityFilter()],
            scorers: scorers
        )
    }

    public var weights: [String: Double] {
        Dictionary(scorers.map { ($0.scorer.name, $0.weight) }, uniquingKeysWith: { a, _ in a })
    }

    /// Runs the pipeline over `nodes`.
    ///
    /// With `explain` the decision lists a verdict for every node; without it, only the
    /// feasible candidates, plus a count of rejections per filter (cheap enough for the
    /// hot path).
    public func decide(_ nodes: some Sequence<PlacementNode>, for request: PlacementRequest, explain: Bool = false) -> PlacementDecision {
        var decision = PlacementDecision()
        var candidates: [(node: PlacementNode, engine: PlacementEngine)] = []

        // Filter.
        for node in nodes {
            var rejected = false
            for filter in filters {
                if let reason = filter.reject(node, for: request) {
                    decision.rejections[filter.name, default: 0] += 1
                    if explain {
                        decision.verdicts.append(NodeVerdict(node: node.id, rejection: .init(filter: filter.name, reason: reason)))
                    }
                    rejected = true
                    break
                }
            }
            if rejected { continue }
            for engine in node.engines where engine.serves(request.model) && engine.free > 0 {
                candidates.append((node, engine))
            }
        }
        guard !candidates.isEmpty else { return decision }

        // Score: raw per scorer, normalized across candidates, then weighted.
        let totalWeight = scorers.reduce(0) { $0 + $1.weight }
        var totals = [Double](repeating: 0, count: candidates.count)
        var perScorer: [[Double]] = []
        for (scorer, weight) in scorers {
            let raw = candidates.map { scorer.raw($0.node, engine: $0.engine, for: request) }
            let normalized = scorer.normalize(raw)
            perScorer.append(normalized)
            for i in totals.indices { totals[i] += weight * normalized[i] / totalWeight }
        }

        // Select: the best pair per node, then the best node; ties go to the lower node
        // id, then the lower engine name, so decisions are reproducible.
        var bestPerNode: [NodeID: Int] = [:]
        for i in candidates.indices {
            let id = candidates[i].node.id
            if let j = bestPerNode[id] {
                if better(i, than: j, totals, candidates) { bestPerNode[id] = i }
            } else {
                bestPerNode[id] = i
            }
        }
        var winner: Int?
        for i in bestPerNode.values.sorted() {
            if winner == nil || better(i, than: winner!, totals, candidates) { winner = i }
        }
        for i in bestPerNode.values.sorted(by: { candidates[$0].node.id < candidates[$1].node.id }) {
            var scores: [String: Double] = [:]
            for (k, s) in scorers.enumerated() { scores[s.scorer.name] = perScorer[k][i] }
            decision.verdicts.append(NodeVerdict(node: candidates[i].node.id, scores: scores, total: totals[i], engine: candidates[i].engine.name))
        }
        if let w = winner {
            decision.node = candidates[w].node.id
            decision.engine = candidates[w].engine.name
        }
        decision.feasible = bestPerNode.count
        return decision
    }

    private func better(_ i: Int, than j: Int, _ totals: [Double], _ c: [(node: PlacementNode, engine: PlacementEngine)]) -> Bool {
        if totals[i] != totals[j] { return totals[i] > totals[j] }
        if c[i].node.id != c[j].node.id { return c[i].node.id < c[j].node.id }
        return c[i].engine.name < c[j].engine.name
    }
}

public struct PlacementDecision: Hashable, Sendable {
    /// The chosen node and engine; nil when no node is feasible.
    public var node: NodeID?
    public var engine: String?
    /// Feasible candidates with scores (always), and rejected nodes with reasons (with `explain`).
    public var verdicts: [NodeVerdict] = []
    /// How many nodes each filter rejected.
    public var rejections: [String: Int] = [:]
    public var feasible: Int = 0

    public init() {}

    /// One line for logs and for a queued job's status, e.g.
    /// "no node can run it: capacity rejected 3, model rejected 1".
    public var summary: String {
        if let node { return "placed on \(node) (\(feasible) feasible)" }
        if rejections.isEmpty { return "no nodes" }
        let parts = rejections.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) rejected \($0.value)" }
        return "no node can run it: " + parts.joined(separator: ", ")
    }
}
