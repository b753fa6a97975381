import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// Engine telemetry against real llama-servers (started with `--metrics`): what the engines
/// report moves placement, makes a dead engine unhealthy, and checks Gantry's token counts.
@Suite("Engine telemetry with real llama-servers", .serialized)
struct TelemetryIntegrationTests {
    static func engines(port: Int, interval: String) -> String {
        RealEngine.engineTOML(port: port) + "\ntelemetry_interval = \"\(interval)\"\n"
    }

    /// An engine's telemetry as `gantryctl nodes get` shows it.
    static func telemetry(_ cluster: Cluster, _ node: String) async throws -> [String: Any]? {
        let n = try await cluster.ctlJSON(["nodes", "get", node])
        return (n["engines"] as? [[String: Any]])?.first?["telemetry"] as? [String: Any]
    }

    /// Where each job ran, from `submit --wait --output json`.
    static func nodes(of result: CommandResult) -> [String] {
        let object = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        return (object["jobs"] as? [[String: Any]] ?? []).map { $0["node"] as? String ?? "?" }
    }

    /// Submits `count` jobs in one request and waits for them.
    static func submit(_ cluster: Cluster, _ prompt: String, count: Int, maxTokens: Int) async throws -> CommandResult {
        let lines = (0..<count).map { #"{"prompt": "\#(prompt) \#($0)", "max_tokens": \#(maxTokens)}"# }
        let file = try cluster.scratch.write("jobs-\(UUID().uuidString).jsonl", lines.joined(separator: "\n") + "\n")
        return try await cluster.ctl(["submit", "--model", "tiny", "--file", file, "--wait", "--output", "json"], timeout: 60)
    }

    /// A llama-server counter, read from its own /metrics.
    static func counter(_ port: Int, _ name: String) async throws -> Double {
        let (_, body) = try await httpGet("http://127.0.0.1:\(port)/metrics")
        for line in body.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ")[1]) ?? 0
        }
        throw TestFailure("\(name) is not in llama-server's /metrics")
    }

    /// Requests sent straight to a llama-server by `clients` loops (another application
    /// sharing the engine), until stopped; bounded in count and time.
    final class OutsideLoad: Sendable {
        let stopped = NIOLockedValueBox(false)
        let sent = NIOLockedValueBox(0)

        func run(port: Int, clients: Int, maxRequests: Int = 400, maxSeconds: Double = 90) async {
            let deadline = Date().addingTimeInterval(maxSeconds)
            await withTaskGroup(of: Void.self) { group in
                for c in 0..<clients {
                    group.addTask {
                        while !self.stopped.withLockedValue({ $0 }), Date() < deadline,
                            self.sent.withLockedValue({ $0 += 1; return $0 }) <= maxRequests
                        {
                            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/completions")
                            request.method = .POST
                            request.headers.add(name: "Content-Type", value: "application/json")
                            request.body = .bytes(ByteBuffer(string: #"{"model": "tiny", "prompt": "another application, client \#(c)", "max_tokens": 1000}"#))
                            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(30)) {
                                _ = try? await response.body.collect(upTo: 1 << 20)
                            }
                        }
                    }
                }
            }
        }

        func stop() { stopped.withLockedValue { $0 = true } }
    }

    @Test("load sent straight to one llama-server moves Gantry's jobs to the other; the drift metric and report show the outside tokens",
          .enabled(if: RealEngine.enabled, "llama-server and the tiny model are not built; scripts/test builds them"))
    func outsideLoad() async throws {
        let cluster = try await Cluster(Cluster.Options(extra: "[telemetry]\ndrift_window = \"3s\""))
        let (llama1, port1) = try await RealEngine.start(name: "llama-1", in: cluster.scratch)
        let (llama2, port2) = try await RealEngine.start(name: "llama-2", in: cluster.scratch)
        try cluster.startAgent("cpu-1", engines: Self.engines(port: port1, interval: "250ms"))
        try cluster.startAgent("cpu-2", engines: Self.engines(port: port2, interval: "250ms"))
        let load = OutsideLoad()
        do {
            try await eventually("both engines scraped") {
                for node in ["cpu-1", "cpu-2"] where try await Self.telemetry(cluster, node)?["source"] as? String != "llamacpp" { return false }
                return true
            }
            // Five clients on a four-slot engine: every slot busy, one request in its queue.
            let loading = Task { await load.run(port: port1, clients: 5) }
            try await eventually("cpu-1's engine reports its slots full") {
                (try await Self.telemetry(cluster, "cpu-1")?["running"] as? Int ?? 0) >= 4
            }
            let submitted = try await Self.submit(cluster, "placed by telemetry", count: 4, maxTokens: 16)
            #expect(submitted.status == 0, "\(submitted.stderr)")
            #expect(Self.nodes(of: submitted) == ["cpu-2", "cpu-2", "cpu-2", "cpu-2"], "\(submitted.stdout.prefix(2000))")

            // Over a 3 s window, most of cpu-1's tokens are nobody's in Gantry.
            try await eventually("drift reported", timeout: 30) {
                let (_, metrics) = try await httpGet("http://127.0.0.1:\(cluster.httpPort)/metrics")
                guard let ratio = Self.gauge(metrics, "gantry_engine_token_drift_ratio", node: "cpu-1") else { return false }
                return ratio > 0.5
            }
            try await eventually("the warning is logged") {
                cluster.gantryd.output.contains("engine generated tokens that no Gantry job accounts for")
            }
            let (_, metrics) = try await httpGet("http://127.0.0.1:\(cluster.httpPort)/metrics")
            #expect(metrics.contains(#"gantry_engine_requests{node="cpu-1",engine="llama",state="running"}"#))
            #expect(metrics.contains(#"gantry_engine_kv_usage{node="cpu-1",engine="llama"}"#))
            if let ratio = Self.gauge(metrics, "gantry_engine_token_drift_ratio", node: "cpu-2") {
                #expect(ratio < 0.25, "cpu-2 ran only Gantry's jobs: \(ratio)")
            }
            load.stop()
            await loading.value
            let report = try await cluster.ctlJSON(["report", "--by", "node"])
            let rows = report["rows"] as? [[String: Any]] ?? []
            let outside = rows.first { $0["key"] as? String == "cpu-1" }?["outside_tokens"] as? Int ?? 0
            #expect(outside > 1000, "\(rows)")
            #expect((rows.first { $0["key"] as? String == "cpu-2" }?["outside_tokens"] as? Int ?? -1) < outside / 10)
            let table = try await cluster.ctl(["report", "--by", "node"])
            #expect(table.stdout.contains("OUTSIDE_TOK"))
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        load.stop()
        await cluster.stop()
        llama1.killHard()
        llama2.killHard()
    }

    @Test("a stopped llama-server's engine turns unhealthy from failed scrapes within 3 intervals; jobs go to the other",
          .enabled(if: RealEngine.enabled, "llama-server and the tiny model are not built; scripts/test builds them"))
    func scrapeFailures() async throws {
        let cluster = try await Cluster()
        let (llama1, port1) = try await RealEngine.start(name: "llama-1", in: cluster.scratch)
        let (llama2, port2) = try await RealEngine.start(name: "llama-2", in: cluster.scratch)
        // The health probe runs once a minute here: only the scrapes can notice in time.
        try cluster.startAgent("cpu-1", engines: Self.engines(port: port1, interval: "500ms"), extra: #"health_interval = "60s""#)
        try cluster.startAgent("cpu-2", engines: Self.engines(port: port2, interval: "500ms"), extra: #"health_interval = "60s""#)
        do {
            try await eventually("both engines healthy and scraped") {
                for node in ["cpu-1", "cpu-2"] {
                    let n = try await cluster.ctlJSON(["nodes", "get", node])
                    let engine = (n["engines"] as? [[String: Any]])?.first
                    guard engine?["healthy"] as? Bool == true, engine?["telemetry"] != nil else { return false }
                }
                return true
            }
            llama1.killHard()
            // Three failed scrapes (1.5 s) and a heartbeat: well within 5 s, and far from the probe's minute.
            try await eventually("unhealthy", timeout: 5) {
                let n = try await cluster.ctlJSON(["nodes", "get", "cpu-1"])
                let engine = (n["engines"] as? [[String: Any]])?.first
                return engine?["healthy"] as? Bool == false
                    && (engine?["health_detail"] as? String ?? "").contains("metrics could not be read")
            }
            let r = try await Self.submit(cluster, "not on the dead one", count: 3, maxTokens: 8)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(Self.nodes(of: r) == ["cpu-2", "cpu-2", "cpu-2"])
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
        llama1.killHard()
        llama2.killHard()
    }

    @Test("jobs sharing a long prompt prefix land on the engine that served it, whose cached-prompt counter rises",
          .enabled(if: RealEngine.enabled, "llama-server and the tiny model are not built; scripts/test builds them"))
    func prefixAffinity() async throws {
        let cluster = try await Cluster()
        let (llama1, port1) = try await RealEngine.start(name: "llama-1", in: cluster.scratch)
        let (llama2, port2) = try await RealEngine.start(name: "llama-2", in: cluster.scratch)
        try cluster.startAgent("cpu-1", engines: RealEngine.engineTOML(port: port1), labels: ["host": "one"])
        try cluster.startAgent("cpu-2", engines: RealEngine.engineTOML(port: port2), labels: ["host": "two"])
        do {
            try await eventually("engines healthy") {
                let nodes = try await cluster.ctlJSON(["nodes", "ls"])["nodes"] as? [[String: Any]] ?? []
                return nodes.count == 2 && nodes.allSatisfy { (($0["engines"] as? [[String: Any]])?.first?["healthy"] as? Bool) == true }
            }
            let prefix = String(repeating: "You are a careful assistant who answers briefly. ", count: 8)
            // The first job of the prefix goes to cpu-2, because a job pinned to cpu-1 is
            // placed in the same pass; on slots alone every later one would go to cpu-1 (the tie
            // goes to the lower id).
            let first = try cluster.scratch.write("first.jsonl", """
                {"prompt": "a job that keeps cpu-1 busy", "max_tokens": 64, "constraints": {"host": "one"}}
                {"prompt": "\(prefix)question 0", "max_tokens": 8}

                """)
            let r0 = try await cluster.ctl(["submit", "--model", "tiny", "--file", first, "--wait", "--output", "json"], timeout: 60)
            #expect(Self.nodes(of: r0) == ["cpu-1", "cpu-2"], "\(r0.stdout.prefix(1500))")
            let cachedBefore = try await Self.counter(port2, "llamacpp:prompt_tokens_cached_total")
            var placed: [String] = []
            for i in 1...5 {
                let r = try await cluster.ctl(["submit", "--model", "tiny", "--prompt", "\(prefix)question \(i)", "--max-tokens", "8", "--wait", "--output", "json"], timeout: 60)
                placed += Self.nodes(of: r)
            }
            #expect(placed == Array(repeating: "cpu-2", count: 5))
            let cachedAfter = try await Self.counter(port2, "llamacpp:prompt_tokens_cached_total")
            // Each repeat finds the prefix (about 400 tokens with this byte-level model) in the cache.
            #expect(cachedAfter - cachedBefore >= 5 * 300, "cached prompt tokens rose by \(cachedAfter - cachedBefore)")
            // Gantry's telemetry carries the same counter.
            try await eventually("telemetry shows it") {
                (try await Self.telemetry(cluster, "cpu-2")?["cached_prompt_tokens"] as? Int ?? 0) >= Int(cachedAfter)
            }
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
        llama1.killHard()
        llama2.killHard()
    }

    /// A gauge's value for `engine="llama", node=…` in a Prometheus text body.
    static func gauge(_ body: String, _ name: String, node: String) -> Double? {
        for line in body.split(separator: "\n") where line.hasPrefix(name + "{") && line.contains(#"node="\#(node)""#) {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }
}
