import GantryModel
import GantryPlacement
import Testing

@Suite("Placement on engine telemetry")
struct EngineTelemetryPlacementTests {
    static func engine(_ name: String = "e", slots: Int = 4, used: Int = 0, outside: Int = 0, waiting: Int? = nil, kv: Double? = nil) -> PlacementEngine {
        PlacementEngine(name: name, models: ["m"], slots: slots, used: used, outside: outside, waiting: waiting, kvUsage: kv)
    }

    static func node(_ id: String, _ engines: PlacementEngine...) -> PlacementNode {
        PlacementNode(id: NodeID(id)!, state: .ready, engines: engines)
    }

    struct ScorerCase: Sendable, CustomTestStringConvertible {
        var scorer: String
        var engines: [PlacementEngine]
        /// The scores, in node order (a, b, …).
        var scores: [Double]
        var testDescription: String { "\(scorer) \(scores)" }
    }

    static let scorerCases: [ScorerCase] = [
        ScorerCase(scorer: "engine-queue", engines: [engine(waiting: 0), engine(waiting: 2), engine(waiting: 4)], scores: [100, 50, 0]),
        ScorerCase(scorer: "engine-queue", engines: [engine(waiting: 0), engine(waiting: 0)], scores: [100, 100]),
        // An engine that reports nothing scores the others' average: neither wins nor loses.
        ScorerCase(scorer: "engine-queue", engines: [engine(waiting: 3), engine(waiting: 1), engine()], scores: [0, 200.0 / 3, 100.0 / 3]),
        ScorerCase(scorer: "engine-queue", engines: [engine(), engine()], scores: [100, 100]),
        ScorerCase(scorer: "kv-usage", engines: [engine(kv: 0), engine(kv: 0.25), engine(kv: 0.875)], scores: [100, 75, 12.5]),
        ScorerCase(scorer: "kv-usage", engines: [engine(kv: 0.6), engine()], scores: [40, 40]),
        // Other clients' requests count as used slots for the least-loaded scorer.
        ScorerCase(scorer: "least-loaded", engines: [engine(used: 1), engine(used: 1, outside: 2)], scores: [50, 0]),
    ]

    @Test("each telemetry scorer ranks by its figure; engines without one score the average", arguments: scorerCases)
    func scorers(_ c: ScorerCase) {
        var weights = ScoringWeights(leastLoaded: 0, engineQueue: 0, kvUsage: 0, prefixAffinity: 0)
        switch c.scorer {
        case "engine-queue": weights.engineQueue = 1
        case "kv-usage": weights.kvUsage = 1
        default: weights.leastLoaded = 1
        }
        let p = PlacementPipeline.standard(weights: weights)
        let nodes = c.engines.enumerated().map { Self.node(String(UnicodeScalar(UInt8(97 + $0.offset))), $0.element) }
        let d = p.decide(nodes, for: PlacementRequest(model: "m"), explain: true)
        let byNode = Dictionary(uniqueKeysWithValues: d.verdicts.map { ($0.node, $0.scores[c.scorer] ?? -1) })
        #expect(nodes.map { byNode[$0.id] ?? -1 } == c.scores)
    }

    @Test("with default weights, a busy engine loses to an idle one by its own queue and KV use")
    func defaults() {
        let p = PlacementPipeline.standard()
        let nodes = [Self.node("a", Self.engine(waiting: 3, kv: 0.8)), Self.node("b", Self.engine(waiting: 0, kv: 0.1))]
        #expect(p.decide(nodes, for: PlacementRequest(model: "m")).node == NodeID("b"))
    }

    @Test("prefix affinity sends a prompt to the engine that served its prefix, while that engine has room")
    func affinity() {
        let p = PlacementPipeline.standard()
        let nodes = [Self.node("a", Self.engine()), Self.node("b", Self.engine("e1"), Self.engine("e2"))]
        let there = EngineRef(node: NodeID("b")!, engine: "e2")
        let d = p.decide(nodes, for: PlacementRequest(model: "m", affinity: there), explain: true)
        #expect(d.node == NodeID("b") && d.engine == "e2")
        #expect(d.verdicts.first { $0.node == NodeID("b") }?.scores["prefix-affinity"] == 100)
        #expect(d.verdicts.first { $0.node == NodeID("a") }?.scores["prefix-affinity"] == 0)
        // Without it, the tie goes to the lowest id.
        #expect(p.decide(nodes, for: PlacementRequest(model: "m")).node == NodeID("a"))
        // Full: the engine has no room, so the prefix goes elsewhere.
        let full = [Self.node("a", Self.engine()), Self.node("b", Self.engine("e2", used: 4))]
        #expect(p.decide(full, for: PlacementRequest(model: "m", affinity: there)).node == NodeID("a"))
        // While it has room, it wins even when busier…
        let busy = [Self.node("a", Self.engine(slots: 8)), Self.node("b", Self.engine("e2", slots: 8, used: 6))]
        #expect(p.decide(busy, for: PlacementRequest(model: "m", affinity: there)).node == NodeID("b"))
        // …unless its own queue and KV use say it is loaded too.
        let loaded = [Self.node("a", Self.engine(slots: 8, waiting: 0, kv: 0.1)), Self.node("b", Self.engine("e2", slots: 8, used: 6, waiting: 6, kv: 0.9))]
        #expect(p.decide(loaded, for: PlacementRequest(model: "m", affinity: there)).node == NodeID("a"))
    }

    @Test("an engine not scraped yet loses nothing to an idle one that was: slots decide")
    func unknownIsNeutral() {
        let p = PlacementPipeline.standard()
        let nodes = [Self.node("a", Self.engine(used: 1, waiting: 0, kv: 0)), Self.node("b", Self.engine())]
        #expect(p.decide(nodes, for: PlacementRequest(model: "m")).node == NodeID("b"))
    }

    @Test("an engine that other clients fill takes no Gantry work; the other engine gets it")
    func outsideLoad() {
        let p = PlacementPipeline.standard()
        let nodes = [Self.node("a", Self.engine(outside: 4)), Self.node("b", Self.engine(used: 2))]
        let d = p.decide(nodes, for: PlacementRequest(model: "m"), explain: true)
        #expect(d.node == NodeID("b"))
        #expect(d.rejected.first?.rejection?.filter == "capacity")
    }
}
