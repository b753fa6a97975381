import Foundation
import Testing

/// What operators read: `jobs watch` shows exactly the final text, listings of any size
/// come back whole (a page at a time), and `status` counts every job after restarts.
@Suite("Watch, listings and counts (shipped binaries)", .serialized)
struct WatchAndListTests {
    /// Submits one job, watches it with gantryctl while it runs, and returns what watch
    /// printed (less its closing newline) and the stored output.
    func watched(_ cluster: Cluster, model: String, maxTokens: Int) async throws -> (printed: String, stored: String) {
        let submit = try await cluster.ctl(["submit", "--model", model, "--prompt", "tell me about clusters", "--max-tokens", "\(maxTokens)"])
        guard submit.status == 0 else { throw TestFailure("submit: \(submit.stderr)") }
        let id = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let watch = try await cluster.ctl(["jobs", "watch", id])
        guard watch.status == 0 else { throw TestFailure("watch exited \(watch.status): \(watch.stderr)") }
        let job = try await cluster.ctlJSON(["jobs", "get", id])
        #expect(job["state"] as? String == "succeeded")
        var printed = watch.stdout
        if printed.hasSuffix("\n") { printed.removeLast() }
        return (printed, job["output"] as? String ?? "")
    }

    @Test("jobs watch prints exactly the stored output (sim engine at 50 tokens/s)")
    func watchSim() async throws {
        let cluster = try await Cluster()
        try cluster.startAgent("sim-1", engines: Cluster.simEngine(tokensPerSecond: 50))
        do {
            try await eventually("ready") { try await cluster.nodeStates()["sim-1"] == "ready" }
            let (printed, stored) = try await watched(cluster, model: "sim-8b", maxTokens: 40)
            #expect(!stored.isEmpty)
            #expect(Array(printed.utf8) == Array(stored.utf8), "watch printed \(printed.utf8.count) of \(stored.utf8.count) bytes")
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("jobs watch prints exactly the stored output (real llama-server)",
          .enabled(if: RealEngine.enabled, "llama-server and the tiny model are not built; scripts/test builds them"))
    func watchLlama() async throws {
        let cluster = try await Cluster()
        let (llama, port) = try await RealEngine.start(name: "llama", in: cluster.scratch)
        try cluster.startAgent("cpu-1", engines: RealEngine.engineTOML(port: port))
        do {
            try await eventually("healthy") {
                let node = try await cluster.ctlJSON(["nodes", "get", "cpu-1"])
                return ((node["engines"] as? [[String: Any]])?.first?["healthy"] as? Bool) == true
            }
            let (printed, stored) = try await watched(cluster, model: "tiny", maxTokens: 200)
            #expect(!stored.isEmpty)
            #expect(Array(printed.utf8) == Array(stored.utf8), "watch printed \(printed.utf8.count) of \(stored.utf8.count) bytes")
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
        llama.killHard()
    }

    @Test("12,000 finished jobs: jobs ls returns them all, a page at a time; status counts them after a kill -9; receipts per attempt")
    func largeListing() async throws {
        let cluster = try await Cluster(Cluster.Options(listenPort: try freePort()))
        for i in 1...2 { try cluster.startAgent("fast-\(i)", engines: Cluster.simEngine(slots: 64, ttftMs: 0, tokensPerSecond: 0)) }
        do {
            try await eventually("ready") { try await cluster.nodeStates().values.filter { $0 == "ready" }.count == 2 }
            let n = 12_000
            let lines = (0..<n).map { "{\"prompt\": \"p\($0)\", \"max_tokens\": 2}" }.joined(separator: "\n")
            let file = try cluster.scratch.write("many.jsonl", lines + "\n")
            let submit = try await cluster.ctl(["submit", "--model", "sim-8b", "--file", file, "--wait"], timeout: 300)
            #expect(submit.status == 0, "\(submit.stderr)")
            let list = try await cluster.ctl(["jobs", "ls", "--state", "succeeded", "--limit", "1000000", "--output", "json"], timeout: 120)
            #expect(list.status == 0, "\(list.stderr.prefix(500))")
            let object = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any]
            let jobs = object?["jobs"] as? [[String: Any]] ?? []
            #expect(jobs.count == n)
            #expect(Set(jobs.compactMap { $0["id"] as? String }).count == n)
            let ids = jobs.compactMap { $0["id"] as? String }
            #expect(ids == ids.sorted(by: >), "newest first, across pages")
            // A limit smaller than a page, and one that ends mid-page.
            let few = try await cluster.ctlJSON(["jobs", "ls", "--limit", "7"])
            #expect((few["jobs"] as? [[String: Any]])?.count == 7)
            let some = try await cluster.ctlJSON(["jobs", "ls", "--limit", "2500"])
            #expect((some["jobs"] as? [[String: Any]])?.count == 2500)
            // Each attempt carries its receipt.
            let one = try await cluster.ctlJSON(["jobs", "get", ids[0]])
            let attempt = (one["attempt_history"] as? [[String: Any]])?.last
            let receipt = attempt?["receipt"] as? [String: Any]
            #expect(receipt?["completion_tokens"] as? Int == 2)
            #expect(receipt?["total_usd"] != nil && receipt?["slot_ms"] != nil && receipt?["energy_joules"] != nil)
            // After a crash, status still counts every finished job.
            try await cluster.crashAndRestartGantryd()
            let status = try await cluster.ctlJSON(["status"])
            #expect((status["jobs"] as? [String: Any])?["succeeded"] as? Int == n, "\(status)")
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }
}
