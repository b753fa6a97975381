import GantryModel
import GantryPlacement
import Testing

@Suite("Placement pipeline")
struct PlacementTests {
    static func node(
        _ id: String, state: NodeState = .ready, connected: Bool = true, labels: Labels = [:],
        engines: [PlacementEngine] = [PlacementEngine(name: "e", models: ["m"], slots: 4)], cost: Int64 = 0
    ) -> PlacementNode {
        PlacementNode(id: NodeID(id)!, state: state, connected: connected, labels: labels, engines: engines, costMicroUSDPerHour: cost)
    }

    let pipeline = PlacementPipeline.standard()
    /// Slots alone, as before engine telemetry: the scorers whose figures the tests below check.
    static func only(_ weights: ScoringWeights) -> PlacementPipeline {
        var w = weights
        w.engineQueue = 0
        w.kvUsage = 0
        w.prefixAffinity = 0
        return .standard(weights: w)
    }

    struct FilterCase: Sendable, CustomTestStringConvertible {
        var node: PlacementNode
        var request: PlacementRequest
        var filter: String?
        var reason: String?
        var testDescription: String { filter ?? "feasible" }
    }

    static let filterCases: [FilterCase] = [
        FilterCase(node: node("a"), request: PlacementRequest(model: "m"), filter: nil, reason: nil),
        FilterCase(node: node("a", state: .cordoned), request: PlacementRequest(model: "m"), filter: "node-state", reason: "node is cordoned"),
        FilterCase(node: node("a", state: .draining), request: PlacementRequest(model: "m"), filter: "node-state", reason: "node is draining"),
        FilterCase(node: node("a", state: .lost), request: PlacementRequest(model: "m"), filter: "node-state", reason: "node is lost"),
        FilterCase(node: node("a", connected: false), request: PlacementRequest(model: "m"), filter: "node-state", reason: "node is disconnected (waiting for its agent to reconnect)"),
        FilterCase(node: node("a", labels: ["pool": "h100"]), request: PlacementRequest(model: "m", constraints: ["pool": "h200"]), filter: "constraints", reason: "label pool=h100; the job needs pool=h200"),
        FilterCase(node: node("a"), request: PlacementRequest(model: "m", constraints: ["pool": "h200"]), filter: "constraints", reason: "label pool is missing; the job needs pool=h200"),
        FilterCase(node: node("a", labels: ["pool": "h200", "zone": "b"]), request: PlacementRequest(model: "m", constraints: ["pool": "h200"]), filter: nil, reason: nil),
        FilterCase(node: node("a"), request: PlacementRequest(model: "other"), filter: "model", reason: "no engine serves model other (serves: m)"),
        FilterCase(node: node("a", engines: []), request: PlacementRequest(model: "m"), filter: "model", reason: "no engine serves model m (the node has no engines)"),
        FilterCase(node: node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, healthy: false)]), request: PlacementRequest(model: "m"), filter: "engine-health", reason: "engine e is unhealthy"),
        FilterCase(node: node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 2, used: 2)]), request: PlacementRequest(model: "m"), filter: "capacity", reason: "no free slot (e 2/2 used)"),
        // Engine telemetry: other clients' requests fill slots; an engine full by its own account takes nothing.
        FilterCase(node: node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, used: 1, outside: 3)]), request: PlacementRequest(model: "m"), filter: "capacity", reason: "no free slot (e 4/4 used (1 by Gantry, 3 by other clients))"),
        FilterCase(node: node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, used: 1, outside: 2)]), request: PlacementRequest(model: "m"), filter: nil, reason: nil),
        FilterCase(node: node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, kvUsage: 0.97)]), request: PlacementRequest(model: "m"), filter: "engine-load", reason: "e has KV-cache use 97.0%, over placement.kv_high_watermark 95.0%"),
        FilterCase(node: node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, kvUsage: 0.95)]), request: PlacementRequest(model: "m"), filter: nil, reason: nil),
        FilterCase(node: node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, waiting: 9)]), request: PlacementRequest(model: "m"), filter: "engine-load", reason: "e has 9 requests in its own queue, over placement.max_engine_queue 8"),
        FilterCase(node: node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, waiting: 8, kvUsage: 0.5)]), request: PlacementRequest(model: "m"), filter: nil, reason: nil),
        FilterCase(node: node("a", engines: [
            PlacementEngine(name: "e1", models: ["m"], slots: 4, waiting: 12), PlacementEngine(name: "e2", models: ["m"], slots: 4, kvUsage: 0.99),
            PlacementEngine(name: "e3", models: ["m"], slots: 1, used: 1),
        ]), request: PlacementRequest(model: "m"), filter: "engine-load", reason: "e1 has 12 requests in its own queue, over placement.max_engine_queue 8; e2 has KV-cache use 99.0%, over placement.kv_high_watermark 95.0%"),
        FilterCase(node: node("a", engines: [
            PlacementEngine(name: "e1", models: ["m"], slots: 4, waiting: 12), PlacementEngine(name: "e2", models: ["m"], slots: 4, kvUsage: 0.2),
        ]), request: PlacementRequest(model: "m"), filter: nil, reason: nil),
    ]

    @Test("each filter rejects with its reason", arguments: filterCases)
    func filters(_ c: FilterCase) {
        let d = pipeline.decide([c.node], for: c.request, explain: true)
        if let filter = c.filter {
            #expect(d.node == nil)
            #expect(d.verdicts.first?.rejection == NodeVerdict.Rejection(filter: filter, reason: c.reason!))
            #expect(d.rejections == [filter: 1])
        } else {
            #expect(d.node == c.node.id)
        }
    }

    @Test("every filter gives the same verdict explaining or not, and a reason only when explaining", arguments: filterCases)
    func oneRule(_ c: FilterCase) {
        // The hot path (no explanation) runs the same rule as the explanation.
        let hot = pipeline.decide([c.node], for: c.request)
        #expect((hot.node != nil) == (c.filter == nil))
        if let filter = c.filter { #expect(hot.rejections == [filter: 1]) }
        for f in pipeline.filters {
            let quiet = f.verdict(c.node, for: c.request, explaining: false)
            let told = f.verdict(c.node, for: c.request, explaining: true)
            #expect(quiet.admits == told.admits, "\(f.name)")
            if case .reject(let reason) = quiet { #expect(reason == nil, "\(f.name) built a reason on the hot path") }
            if case .reject(let reason) = told { #expect(reason?.isEmpty == false, "\(f.name) gave no reason") }
        }
    }

    @Test("least-loaded picks the emptiest node; ties go to the lowest id")
    func leastLoaded() {
        let nodes = [
            Self.node("c", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, used: 1)]),
            Self.node("b", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, used: 3)]),
            Self.node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, used: 1)]),
        ]
        let d = Self.only(ScoringWeights()).decide(nodes, for: PlacementRequest(model: "m"))
        #expect(d.node == NodeID("a"))
        #expect(d.feasible == 3)
        #expect(d.verdicts.first { $0.node == NodeID("a") }?.scores["least-loaded"] == 50)
        #expect(d.verdicts.first { $0.node == NodeID("b") }?.total == 0)
    }

    @Test("bin-pack picks the fullest node that still has room")
    func binPack() {
        let p = PlacementPipeline.standard(weights: ScoringWeights(leastLoaded: 0, binPack: 1))
        let nodes = [
            Self.node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, used: 1)]),
            Self.node("b", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, used: 3)]),
            Self.node("c", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, used: 4)]),
        ]
        #expect(p.decide(nodes, for: PlacementRequest(model: "m")).node == NodeID("b"))
    }

    @Test("weights combine scorers; a zero weight turns one off")
    func weighted() {
        let p = Self.only(ScoringWeights(leastLoaded: 1, binPack: 3))
        #expect(Set(p.weights.keys) == ["least-loaded", "bin-pack"])
        let nodes = [
            Self.node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, used: 0)]),
            Self.node("b", engines: [PlacementEngine(name: "e", models: ["m"], slots: 4, used: 2)]),
        ]
        // a: (75 + 3×25)/4 = 37.5; b: (25 + 3×75)/4 = 62.5
        let d = p.decide(nodes, for: PlacementRequest(model: "m"))
        #expect(d.node == NodeID("b"))
        #expect(d.verdicts.first { $0.node == NodeID("a") }?.total == 37.5)
    }

    @Test("the best engine on a node is chosen, deterministically")
    func engineChoice() {
        let n = Self.node("a", engines: [
            PlacementEngine(name: "z", models: ["m"], slots: 4, used: 3),
            PlacementEngine(name: "y", models: ["m"], slots: 4, used: 0),
            PlacementEngine(name: "x", models: ["other"], slots: 4, used: 0),
        ])
        let d = pipeline.decide([n], for: PlacementRequest(model: "m"))
        #expect(d.engine == "y")
    }

    @Test("the same input always gives the same decision, whatever the node order")
    func deterministic() {
        let nodes = (0..<20).map { Self.node("n\($0)") }
        let first = pipeline.decide(nodes, for: PlacementRequest(model: "m"))
        for seed in 0..<10 {
            var rng = SeededRNG(seed: UInt64(seed))
            let d = pipeline.decide(nodes.shuffled(using: &rng), for: PlacementRequest(model: "m"))
            #expect(d.node == first.node && d.engine == first.engine)
        }
        #expect(first.node == NodeID("n0"))
    }

    @Test("assuming each decision's slot never over-commits a node")
    func noOverCommit() {
        var nodes = [
            Self.node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 3)]),
            Self.node("b", engines: [PlacementEngine(name: "e", models: ["m"], slots: 2)]),
        ]
        var placed = 0
        while let id = pipeline.decide(nodes, for: PlacementRequest(model: "m")).node {
            let i = nodes.firstIndex { $0.id == id }!
            nodes[i].engines[0].used += 1  // assume
            placed += 1
            #expect(nodes.allSatisfy { $0.engines[0].used <= $0.engines[0].slots })
        }
        #expect(placed == 5)
        #expect(pipeline.decide(nodes, for: PlacementRequest(model: "m")).rejections == ["capacity": 2])
    }

    @Test("the cost scorer prefers the cheapest dollars per token")
    func costScorer() {
        let p = PlacementPipeline.standard(weights: ScoringWeights(leastLoaded: 0, cost: 1))
        let nodes = [
            Self.node("a", engines: [PlacementEngine(name: "e", models: ["m"], slots: 1, tokensPerSecond: 100)], cost: 4_000_000),
            Self.node("b", engines: [PlacementEngine(name: "e", models: ["m"], slots: 1, tokensPerSecond: 400)], cost: 8_000_000),
        ]
        let d = p.decide(nodes, for: PlacementRequest(model: "m"))
        #expect(d.node == NodeID("b"))  // b: $8/h at 400 tok/s beats a: $4/h at 100 tok/s
        #expect(d.verdicts.first { $0.node == NodeID("a") }?.scores["cost"] == 50)
    }

    @Test("explain lists every node; the hot path only counts rejections")
    func explainVersusHotPath() {
        let nodes = [Self.node("a"), Self.node("b", state: .cordoned), Self.node("c", engines: [])]
        let full = pipeline.decide(nodes, for: PlacementRequest(model: "m"), explain: true)
        #expect(full.verdicts.count == 3)
        let fast = pipeline.decide(nodes, for: PlacementRequest(model: "m"))
        #expect(fast.verdicts.count == 1)
        #expect(fast.rejections == ["node-state": 1, "model": 1])
        #expect(fast.node == full.node)
    }
}

extension PlacementTests {
    @Test("a limit stops the scan after that many feasible nodes; rejected nodes do not count")
    func limitedScan() {
        let nodes = [Self.node("a", state: .cordoned)] + (0..<6).map { Self.node("n\($0)") }
        let d = pipeline.decide(nodes, for: PlacementRequest(model: "m"), limit: 2)
        #expect(d.visited == 3)
        #expect(d.feasible == 2)
        #expect(d.rejections == ["node-state": 1])
        #expect(d.node == NodeID("n0"))
        let all = pipeline.decide(nodes, for: PlacementRequest(model: "m"))
        #expect(all.visited == 7 && all.feasible == 6)
        #expect(all.verdicts.count == PlacementPipeline.keptVerdicts)
        #expect(all.verdicts.first?.node == all.node)
    }
}

/// A deterministic RNG for shuffles in tests.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
