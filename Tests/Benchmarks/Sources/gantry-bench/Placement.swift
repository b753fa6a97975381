import ArgumentParser
import Foundation
import GantryCoordinatorCore
import GantryModel
import GantryPlacement

/// The coordinator's placement decision in a loop, in-process: a quick way to profile
/// it (`perf record gantry-bench placement`) without the benchmark harness around it.
struct Placement: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Time placement decisions against an in-memory cluster.")

    @Option(help: "Nodes in the cluster.") var nodes: Int = 10_000
    @Option(help: "Decisions to time.") var decisions: Int = 1_000_000
    @Option(name: .customLong("max-candidates"), help: "placement.max_candidates (0: every node).") var maxCandidates: Int = CoordinatorSettings().maxCandidates

    func validate() throws {
        guard nodes > 0, decisions > 0, maxCandidates >= 0 else {
            throw ValidationError("--nodes and --decisions must be positive, --max-candidates not negative")
        }
    }

    func run() throws {
        var settings = CoordinatorSettings()
        settings.maxCandidates = maxCandidates
        var core = CoordinatorCore(settings: settings, now: Timestamp(unixMillis: 0))
        for i in 0..<nodes {
            _ = core.agentRegistered(
                session: SessionID(UInt64(i + 1)), address: "", handshakeNodeID: NodeID("node-\(i)"),
                registration: Registration(
                    nodeID: NodeID("node-\(i)")!, labels: ["pool": i % 2 == 0 ? "a" : "b"],
                    engines: [EngineStatus(name: "sim", kind: .sim, models: ["m"], slots: 8)]),
                now: Timestamp(unixMillis: 0))
        }
        let request = PlacementRequest(model: "m")
        var placed = 0
        let start = ContinuousClock.now
        for _ in 0..<decisions where core.decide(request).node != nil { placed += 1 }
        let elapsed = seconds(ContinuousClock.now - start)
        printJSON([
            "mode": "placement", "params": ["nodes": nodes, "decisions": decisions, "max_candidates": maxCandidates],
            "decisions_per_s": Double(decisions) / elapsed, "ns_per_decision": elapsed / Double(decisions) * 1e9, "placed": placed,
        ])
    }
}
