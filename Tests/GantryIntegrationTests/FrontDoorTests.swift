import AsyncHTTPClient
import Foundation
import Testing

/// The OpenAI-compatible API, from the outside: the official `openai` Python client against
/// gantryd with two agents in front of real llama-servers (Tests/api/openai_checks.py).
@Suite("OpenAI-compatible front door (official openai client, real llama-servers)", .serialized)
struct FrontDoorTests {
    static var enabled: Bool {
        RealEngine.enabled && (FileManager.default.isExecutableFile(atPath: ConformanceTests.python)
            || ProcessInfo.processInfo.environment["GANTRY_REQUIRE_CONFORMANCE"] == "1")
    }

    func createKey(_ cluster: Cluster, _ arguments: [String]) async throws -> (id: String, key: String) {
        let json = try await cluster.ctlJSON(["apikeys", "create"] + arguments)
        guard let id = json["id"] as? String, let key = json["key"] as? String else { throw TestFailure("no key in \(json)") }
        return (id, key)
    }

    @Test("completions and chat, streamed and whole; usage, errors, disconnect, priorities, reports",
          .enabled(if: enabled, "needs llama-server, the tiny model and the cache's Python venv (scripts/test)"))
    func openAIClient() async throws {
        let cluster = try await Cluster(Cluster.Options(api: "max_queue_wait = \"60s\""))
        var engines: [(Daemon, Int)] = []
        do {
            for i in 1...2 {
                let (llama, port) = try await RealEngine.start(name: "llama-\(i)", in: cluster.scratch, slots: 2, context: 32768)
                engines.append((llama, port))
                try cluster.startAgent("cpu-\(i)", engines: RealEngine.engineTOML(port: port, slots: 2))
            }
            try await eventually("healthy") {
                let nodes = try await cluster.ctlJSON(["nodes", "ls"])["nodes"] as? [[String: Any]] ?? []
                return nodes.count == 2 && nodes.allSatisfy { (($0["engines"] as? [[String: Any]])?.first?["healthy"] as? Bool) == true }
            }
            let apps = try await createKey(cluster, ["--tenant", "apps", "--name", "checks"])
            let low = try await createKey(cluster, ["--tenant", "batch", "--priority", "0"])
            let high = try await createKey(cluster, ["--tenant", "live", "--priority", "10"])
            #expect(apps.key.hasPrefix("gk-") && apps.key.contains(apps.id))
            let listed = try await cluster.ctl(["apikeys", "ls"])
            #expect(listed.status == 0 && listed.stdout.contains(apps.id) && !listed.stdout.contains(apps.key), "\(listed.stdout)")

            var arguments = [
                "\(SystemdIntegrationTests.repo)/Tests/api/openai_checks.py", "--base-url", "http://127.0.0.1:\(cluster.apiPort)/v1",
                "--key", apps.key, "--low-key", low.key, "--high-key", high.key, "--slots", "4",
            ]
            for (_, port) in engines { arguments += ["--engine", "http://127.0.0.1:\(port)"] }
            let run = try await runCommand(ConformanceTests.python, arguments, timeout: 300)
            print(run.stdout)
            #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
            #expect(run.stdout.contains("OK: 0 failure(s)"), "\(run.stdout)\n\(run.stderr)\n\(cluster.logs)")

            // The disconnected request's job: cancelled, with a receipt for the tokens produced.
            let factsLine = run.stdout.split(separator: "\n").first { $0.hasPrefix("{") }.map(String.init) ?? "{}"
            let facts = try JSONSerialization.jsonObject(with: Data(factsLine.utf8)) as? [String: Any] ?? [:]
            if let job = facts["cancelled_job"] as? String {
                try await eventually("cancelled") { try await cluster.ctlJSON(["jobs", "get", job])["state"] as? String == "cancelled" }
                try await eventually("billed") {
                    let receipt = try await cluster.ctlJSON(["jobs", "get", job])["receipt"] as? [String: Any]
                    let tokens = receipt?["completion_tokens"] as? Int ?? 0
                    return tokens > 0 && tokens < 12000
                }
            } else {
                Issue.record("no cancelled job in \(factsLine)")
            }
            // Priorities: every high request was assigned before any low one, though the low
            // ones were queued first (by gantryd's own attempt history, whose fixed-width RFC 3339
            // times in UTC compare as strings).
            let priorityJobs = facts["priority_jobs"] as? [String: String] ?? [:]
            var assigned: [String: String] = [:]
            for (name, job) in priorityJobs {
                let history = try await cluster.ctlJSON(["jobs", "get", job])["attempt_history"] as? [[String: Any]]
                assigned[name] = history?.first?["assigned_at"] as? String
            }
            let highs = assigned.filter { $0.key.hasPrefix("high") }.values, lows = assigned.filter { $0.key.hasPrefix("low") }.values
            #expect(highs.count == 4 && lows.count == 4 && (highs.max() ?? "~") <= (lows.min() ?? ""),
                    "the higher priority is served first (queued later, assigned earlier): \(assigned.sorted { $0.value < $1.value })")
            // Per tenant, in the report: every key's tenant.
            let report = try await cluster.ctlJSON(["report", "--by", "tenant"])
            let keys = Set((report["rows"] as? [[String: Any]] ?? []).compactMap { $0["key"] as? String })
            #expect(keys.isSuperset(of: ["apps", "batch", "live"]), "\(keys)")
            // A revoked key is refused.
            #expect(try await cluster.ctl(["apikeys", "revoke", low.id]).status == 0)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(cluster.apiPort)/v1/models")
            request.headers.add(name: "Authorization", value: "Bearer \(low.key)")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            #expect(response.status.code == 401)
            // Keys never appear in the logs.
            #expect(!cluster.logs.contains(apps.key) && !cluster.gantryd.output.contains(low.key))
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
        for (llama, _) in engines { llama.killHard() }
    }
}
