public import GantryModel

/// The one placement pipeline: filter → score → select, in the spirit of Nomad's
/// `GenericStack` and kube-scheduler's Filter/Score/NormalizeScore.
///
/// It is pure and deterministic: the same nodes and request give the same decision.
/// Every rejected node carries the filter and the reason; the winner carries its scores.
public struct PlacementPipeline: Sendable {
    public let filters: [any PlacementFilter]
    public let scorers: [(scorer: any PlacementScorer, weight: Double)]

    /// The filters the hot path runs before looking for candidates (the others only run
    /// for a node that yields none; see `PlacementFilter.passedByAnyCandidate`).
    private let gates: [Int]

    /// Engines over these take no candidates (`EngineLoadFilter` names why).
    public let limits: EngineLoadLimits

    public init(
        filters: [any PlacementFilter], scorers: [(scorer: any PlacementScorer, weight: Double)], limits: EngineLoadLimits = EngineLoadLimits()
    ) {
        self.filters = filters
        self.limits = limits
        self.scorers = scorers.filter { $0.weight > 0 }
        self.gates = filters.indices.filter { !filters[$0].passedByAnyCandidate }
        self.scorerNames = self.scorers.map(\.scorer.name)
    }

    /// The scorers' names, in order, shared by every decision's ranking.
    private let scorerNames: [String]

    /// The pipeline gantryd runs. This is the only place it is assembled.
    public static func standard(weights: ScoringWeights = ScoringWeights(), limits: EngineLoadLimits = EngineLoadLimits()) -> PlacementPipeline {
        var scorers: [(scorer: any PlacementScorer, weight: Double)] = [
            (LeastLoadedScorer(), weights.leastLoaded),
            (BinPackScorer(), weights.binPack),
            (CostScorer(), weights.cost),
            (EngineQueueScorer(), weights.engineQueue),
            (KVUsageScorer(), weights.kvUsage),
            (PrefixAffinityScorer(), weights.prefixAffinity),
        ]
        if scorers.allSatisfy({ $0.weight <= 0 }) { scorers[0].weight = 1 }
        return PlacementPipeline(
            filters: [
                NodeStateFilter(), ConstraintFilter(), ModelFilter(), EngineHealthFilter(), CapacityFilter(), EngineLoadFilter(limits: limits),
            ],
            scorers: scorers,
            limits: limits
        )
    }

    public var weights: [String: Double] {
        Dictionary(scorers.map { ($0.scorer.name, $0.weight) }, uniquingKeysWith: { a, _ in a })
    }

    /// How many scored candidates a decision keeps when not explaining: the winner and
    /// its closest runners-up, for `gantryctl jobs explain`.
    public static let keptVerdicts = 3

    /// Runs the pipeline over `nodes`.
    ///
    /// With `explain` the decision lists a verdict for every node; without it, only the
    /// best few feasible candidates, plus a count of rejections per filter (cheap enough
    /// for the hot path: no strings and no allocation per node).
    ///
    /// `limit` stops the scan once that many nodes were found feasible, in the manner of
    /// Nomad's `LimitIterator`: the caller supplies nodes in an order that rotates, so a
    /// decision costs O(limit + rejected nodes) rather than O(all nodes).
    public func decide(
        _ nodes: some Sequence<PlacementNode>, for request: PlacementRequest, explain: Bool = false, limit: Int = .max
    ) -> PlacementDecision {
        var iterator = nodes.makeIterator()
        return decide(for: request, explain: explain, limit: limit) { iterator.next() }
    }

    /// The same, taking nodes from `next` until it returns nil. Not generic, so a caller
    /// in another module runs the specialized code rather than a generic witness per node.
    public func decide(
        for request: PlacementRequest, explain: Bool = false, limit: Int = .max, next: () -> PlacementNode?
    ) -> PlacementDecision {
        var decision = PlacementDecision()
        var feasible: [PlacementNode] = []
        var candidates: [PlacementCandidate] = []
        var rejectedBy: [Int] = []
        feasible.reserveCapacity(min(limit, 16))
        candidates.reserveCapacity(min(limit, 16))

        // Filter.
        while feasible.count < limit, let node = next() {
            decision.visited += 1
            // Explaining runs every filter in order; the hot path runs the gates, looks for
            // candidates, and runs the rest only to name why a node yields none.
            let gate = explain ? firstRejecting(node, request) : firstRejecting(node, request, among: gates)
            let before = candidates.count
            if gate == nil {
                let n = Int32(feasible.count)
                for e in node.engines.indices {
                    let engine = node.engines[e]
                    guard engine.free > 0, engine.serves(request.model), !engine.overloaded(limits) else { continue }
                    let affinity = request.affinity.map { $0.node == node.id && $0.engine == engine.name } ?? false
                    candidates.append(PlacementCandidate(
                        engine, costMicroUSDPerHour: node.costMicroUSDPerHour, affinity: affinity, node: n, engine: Int32(e)))
                }
            }
            if candidates.count > before {
                feasible.append(node)
                continue
            }
            guard let k = gate ?? firstRejecting(node, request) else { continue }
            if rejectedBy.isEmpty { rejectedBy = Array(repeating: 0, count: filters.count) }
            rejectedBy[k] += 1
            if explain, let reason = filters[k].reject(node, for: request) {
                decision.rejected.append(NodeVerdict(node: node.id, rejection: .init(filter: filters[k].name, reason: reason)))
            }
        }
        for (k, n) in rejectedBy.enumerated() where n > 0 { decision.rejections[filters[k].name, default: 0] += n }
        guard !candidates.isEmpty else { return decision }

        // Score: raw per scorer, normalized across candidates, then weighted. One buffer,
        // scorer-major: scorer k's scores for the n candidates, then the weighted totals.
        let s = scorers.count
        let n = candidates.count
        let totalWeight = scorers.reduce(0) { $0 + $1.weight }
        var table = [Double](repeating: 0, count: n * (s + 1))
        let totals = n * s
        for (k, (scorer, weight)) in scorers.enumerated() {
            for i in 0..<n { table[k * n + i] = scorer.raw(candidates[i], for: request) }
            scorer.normalize(&table[(k * n)..<(k * n + n)])
            for i in 0..<n { table[totals + i] += weight * table[k * n + i] / totalWeight }
        }

        // Select: the best pair per node (a node's pairs are adjacent), then the best
        // node; ties go to the lower node id, then the lower engine name, so decisions
        // are reproducible. Without `explain`, only the best few are kept, by insertion.
        func better(_ i: Int, than j: Int) -> Bool {
            if table[totals + i] != table[totals + j] { return table[totals + i] > table[totals + j] }
            let a = candidates[i], b = candidates[j]
            if a.node != b.node { return feasible[Int(a.node)].id < feasible[Int(b.node)].id }
            return feasible[Int(a.node)].engines[Int(a.engine)].name < feasible[Int(b.node)].engines[Int(b.engine)].name
        }
        let keep = explain ? Int.max : Self.keptVerdicts
        var kept: [Int] = []
        kept.reserveCapacity(min(keep, feasible.count) + 1)
        var i = 0
        while i < candidates.count {
            var best = i
            var j = i + 1
            while j < candidates.count, candidates[j].node == candidates[i].node {
                if better(j, than: best) { best = j }
                j += 1
            }
            if explain {
                kept.append(best)
            } else {
                var at = kept.count
                while at > 0, better(best, than: kept[at - 1]) { at -= 1 }
                if at < keep {
                    kept.insert(best, at: at)
                    if kept.count > keep { kept.removeLast() }
                }
            }
            i = j
        }
        if explain { kept.sort(by: better) }
        func node(_ i: Int) -> PlacementNode { feasible[Int(candidates[i].node)] }
        func engine(_ i: Int) -> String { node(i).engines[Int(candidates[i].engine)].name }
        decision.node = node(kept[0]).id
        decision.engine = engine(kept[0])
        decision.feasible = feasible.count

        decision.ranking.scorers = scorerNames
        decision.ranking.entries.reserveCapacity(kept.count)
        decision.ranking.scores.reserveCapacity(kept.count * s)
        for i in kept {
            decision.ranking.entries.append(.init(node: node(i).id, engine: engine(i), total: table[totals + i]))
            for k in 0..<s { decision.ranking.scores.append(table[k * n + i]) }
        }
        return decision
    }

    /// The index of the first filter that rejects `node`, if any.
    private func firstRejecting(_ node: PlacementNode, _ request: PlacementRequest) -> Int? {
        for k in filters.indices where !filters[k].admits(node, for: request) { return k }
        return nil
    }

    private func firstRejecting(_ node: PlacementNode, _ request: PlacementRequest, among subset: [Int]) -> Int? {
        for k in subset where !filters[k].admits(node, for: request) { return k }
        return nil
    }
}

public struct PlacementDecision: Hashable, Sendable {
    /// The chosen node and engine; nil when no node is feasible.
    public var node: NodeID?
    public var engine: String?
    /// Rejected nodes with reasons (with `explain` only).
    public var rejected: [NodeVerdict] = []
    /// Feasible nodes with their scores, best first: the best few, or every one with
    /// `explain`.
    public var ranking = PlacementRanking()
    /// Rejected nodes, then the ranked feasible ones.
    public var verdicts: [NodeVerdict] { rejected + ranking.verdicts }
    /// How many nodes each filter rejected.
    public var rejections: [String: Int] = [:]
    public var feasible: Int = 0
    /// How many nodes the scan looked at (all of them, unless a limit stopped it).
    public var visited: Int = 0

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

/// Scored candidates in a compact form: a decision keeps one for `gantryctl jobs explain`
/// without building a dictionary per candidate on the hot path.
public struct PlacementRanking: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public var node: NodeID
        public var engine: String
        public var total: Double
    }

    /// The scorers, in the order of each entry's scores.
    public var scorers: [String] = []
    /// Best first.
    public var entries: [Entry] = []
    /// Entry-major: entry i's score from scorer k is at `i * scorers.count + k`.
    public var scores: [Double] = []

    public init() {}

    public var verdicts: [NodeVerdict] {
        entries.indices.map { i in
            var byName: [String: Double] = [:]
            for (k, name) in scorers.enumerated() { byName[name] = scores[i * scorers.count + k] }
            return NodeVerdict(node: entries[i].node, scores: byName, total: entries[i].total, engine: entries[i].engine)
        }
    }
}
