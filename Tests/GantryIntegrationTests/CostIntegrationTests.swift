import Foundation
import Testing

@Suite("Cost and energy accounting (shipped binaries)", .serialized)
struct CostIntegrationTests {
    static func rows(_ report: [String: Any]) -> [String: [String: Any]] {
        var out: [String: [String: Any]] = [:]
        for row in report["rows"] as? [[String: Any]] ?? [] { out[row["key"] as! String] = row }
        return out
    }

    @Test("two nodes with different cost profiles run a fixed workload: the report matches the hand-computed figures and receipts plus idle equal spend exactly")
    func twoProfiles() async throws {
        // $3.60/h is exactly 1 µ$ per ms, $7.20/h 2 µ$ per ms: every figure is an integer.
        let cluster = try await Cluster(Cluster.Options(intervalMs: 100, ttlMs: 5000))
        let profile = { (usd: String) in "[cost]\nkind = \"cloud\"\nusd_per_hour = \(usd)\nidle_watts = 100\nbusy_watts = 300" }
        try cluster.startAgent("cheap-1", engines: Cluster.simEngine(slots: 1, ttftMs: 20, tokensPerSecond: 400), labels: ["pool": "cheap"], cost: profile("3.60"))
        try cluster.startAgent("dear-1", engines: Cluster.simEngine(slots: 1, ttftMs: 20, tokensPerSecond: 400), labels: ["pool": "dear"], cost: profile("7.20"))
        do {
            try await eventually("2 ready") { try await cluster.nodeStates().values.filter { $0 == "ready" }.count == 2 }
            let cheap = try await cluster.ctlJSON(["nodes", "get", "cheap-1"])
            #expect(cheap["cost_usd_per_hour"] as? Double == 3.6)
            // The workload: 3 jobs of 100 tokens on each pool, one after another.
            var lines: [String] = []
            for pool in ["cheap", "dear"] {
                for i in 0..<3 { lines.append("{\"prompt\": \"\(pool) \(i)\", \"max_tokens\": 100, \"tenant\": \"\(pool)-team\"}") }
            }
            var ids: [String] = []
            for pool in ["cheap", "dear"] {
                let file = try cluster.scratch.write("\(pool).jsonl", lines.filter { $0.contains("\"\(pool) ") }.joined(separator: "\n"))
                let r = try await cluster.ctl(["submit", "--model", "sim-8b", "--file", file, "--constraint", "pool=\(pool)", "--wait", "--output", "json"])
                #expect(r.status == 0, "\(r.stderr)")
                let jobs = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["jobs"] as? [[String: Any]] ?? []
                ids += jobs.compactMap { $0["id"] as? String }
            }

            let byNode = Self.rows(try await cluster.ctlJSON(["report", "--by", "node"]))
            for (node, microPerMs) in [("cheap-1", 1), ("dear-1", 2)] {
                let row = try #require(byNode[node])
                let spend = row["spend_micro_usd"] as! Int
                let idle = row["idle_micro_usd"] as! Int
                let busyMs = Int(((row["busy_seconds"] as! Double) * 1000).rounded())
                let idleMs = Int(((row["idle_seconds"] as! Double) * 1000).rounded())
                // By hand: a cloud node costs its rate for every millisecond, busy or idle.
                #expect(spend == microPerMs * (busyMs + idleMs), "\(node): \(row)")
                #expect(idle == microPerMs * idleMs)
                #expect(row["completion_tokens"] as? Int == 300)
                #expect(row["attempts"] as? Int == 3)
                let tokens = row["tokens"] as! Int
                #expect(abs((row["usd_per_mtok_allocation"] as! Double) - Double(spend) / Double(tokens)) < 1e-9)
                #expect(abs((row["usd_per_mtok_usage"] as! Double) - Double(spend - idle) / Double(tokens)) < 1e-9)
                #expect(row["energy_measured"] as? Bool == false)
                // Estimated energy lies between 100 W and 300 W for the time accounted.
                let joules = row["energy_joules"] as! Double
                #expect(joules > 0 && joules <= 0.3 * Double(busyMs + idleMs) + 1, "\(joules) J")
                // Three 100-token jobs at 400 tokens/s keep a slot about 0.27 s each.
                #expect(busyMs >= 3 * 250 && busyMs < 3 * 600, "busy \(busyMs) ms")
            }
            let dear = try #require(byNode["dear-1"]), cheapRow = try #require(byNode["cheap-1"])
            // The dear node's tokens cost twice as much for the same busy time. (Not simply
            // "more per token": each node's busy time is what the machine made it, and a
            // loaded test run once kept the cheap slots 1.4 times as long as the dear ones.)
            let perBusySecond = { (row: [String: Any]) in (row["usd_per_mtok_usage"] as! Double) / (row["busy_seconds"] as! Double) }
            #expect(abs(perBusySecond(dear) / perBusySecond(cheapRow) - 2) < 0.01, "dear \(dear) cheap \(cheapRow)")

            // Receipts plus idle equal spend, exactly: sum the per-job receipts by hand.
            var receipts = 0.0
            for id in ids { receipts += try await cluster.ctlJSON(["jobs", "get", id])["cost_usd"] as? Double ?? .nan }
            let total = try await cluster.ctlJSON(["report", "--by", "tenant"])["total"] as! [String: Any]
            #expect(abs(receipts + (total["idle_usd"] as! Double) - (total["spend_usd"] as! Double)) < 1e-9, "receipts \(receipts) total \(total)")
            // Every grouping has the same total spend; pools are their nodes here.
            let byPool = try await cluster.ctlJSON(["report", "--by", "pool"])
            let byModel = try await cluster.ctlJSON(["report", "--by", "model"])
            let totals = [byPool, byModel].map { (($0["total"] as! [String: Any])["spend_micro_usd"] as! Int) }
            #expect(totals[0] >= (total["spend_micro_usd"] as! Int))  // later reports include more idle time
            #expect(Self.rows(byModel)["(idle)"] != nil)
            #expect(Self.rows(byPool)["cheap"]?["completion_tokens"] as? Int == 300)

            // CSV and a window in the future: empty but well-formed.
            let csv = try await cluster.ctl(["report", "--by", "pool", "--output", "csv"])
            #expect(csv.stdout.hasPrefix("POOL,TOKENS,"))
            let future = try await cluster.ctlJSON(["report", "--from", "2099-01-01T00:00:00Z", "--to", "2099-01-02T00:00:00Z"])
            #expect((future["rows"] as? [Any])?.isEmpty == true)
            let bad = try await cluster.ctl(["report", "--by", "colour"])
            #expect(bad.status == 2)
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("an owned node: depreciation, overhead and energy × PUE × tariff; a coordinator override by label wins")
    func ownedAndOverride() async throws {
        let cluster = try await Cluster(Cluster.Options(extra: """
            [[cost_override]]
            label = "pool=overridden"
            kind = "cloud"
            usd_per_hour = 36
            """))
        try cluster.startAgent("owned-1", engines: Cluster.simEngine(slots: 2, ttftMs: 5, tokensPerSecond: 500), labels: ["pool": "owned"], cost: """
            [cost]
            kind = "owned"
            purchase_usd = 315360
            residual_usd = 0
            lifetime_years = 1
            overhead_usd_per_hour = 3.6
            electricity_usd_per_kwh = 0.10
            pue = 1.5
            idle_watts = 1000
            busy_watts = 4000
            """)
        try cluster.startAgent("other-1", engines: Cluster.simEngine(), labels: ["pool": "overridden"], cost: "[cost]\nkind = \"cloud\"\nusd_per_hour = 1")
        do {
            try await eventually("2 ready") { try await cluster.nodeStates().values.filter { $0 == "ready" }.count == 2 }
            // $315,360 over 365 days is $36/h; with $3.60/h overhead, $39.60/h before energy.
            let owned = try await cluster.ctlJSON(["nodes", "get", "owned-1"])
            // Idle: 1 kW × 1.5 × $0.10 = $0.15/h of energy.
            #expect(owned["cost_usd_per_hour"] as? Double == 39.75)
            let other = try await cluster.ctlJSON(["nodes", "get", "other-1"])
            #expect(other["cost_usd_per_hour"] as? Double == 36)
            let r = try await cluster.ctl(["submit", "--model", "sim-8b", "--prompt", "x", "--max-tokens", "200", "--constraint", "pool=owned", "--wait", "--output", "json"])
            let job = ((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["jobs"] as? [[String: Any]])?.first ?? [:]
            let cost = try #require(job["cost_usd"] as? Double)
            let joules = try #require(job["energy_joules"] as? Double)
            let receipt = try #require(job["receipt"] as? [String: Any])
            let slotSeconds = Double(try #require(receipt["slot_ms"] as? Int)) / 1000
            let wallSeconds = Double(try #require(receipt["wall_ms"] as? Int)) / 1000
            // Alone on the node, the job holds one of 2 slots: 1 kW + 3 kW × 1/2 = 2.5 kW estimated
            // over the agent's run of it (its wall time, give or take the hand-offs around it).
            let seconds = joules / 2500
            #expect(seconds > 0.3 && seconds < 1.5, "\(joules) J")
            #expect(abs(seconds - wallSeconds) < 0.2, "\(joules) J over a run of \(wallSeconds) s")
            // The slot is billed from the accept to the result as gantryd reads them: the run,
            // and the result's spool sync and delivery (which a loaded disk can stretch).
            #expect(slotSeconds >= wallSeconds - 0.05, "slot \(slotSeconds) s, run \(wallSeconds) s")
            // Energy price: J × 1.5 / 3.6e6 × $0.10; time price: $39.60/h for the slot billed.
            let energyUSD = joules * 1.5 / 3_600_000 * 0.10
            let timeUSD = 39.6 / 3600 * slotSeconds
            #expect(abs(cost - (energyUSD + timeUSD)) < 0.0001, "cost \(cost) vs \(energyUSD + timeUSD)")
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("/metrics is served in the Prometheus text format and parses")
    func metrics() async throws {
        let cluster = try await Cluster()
        try cluster.startAgent("m-1", cost: "[cost]\nkind = \"cloud\"\nusd_per_hour = 3.6\nidle_watts = 50\nbusy_watts = 100")
        do {
            try await eventually("ready") { try await cluster.nodeStates()["m-1"] == "ready" }
            _ = try await cluster.ctl(["submit", "--model", "sim-8b", "--prompt", "metrics", "--max-tokens", "16", "--tenant", "acme", "--wait"])
            let (status, body) = try await httpGet("http://127.0.0.1:\(cluster.httpPort)/metrics")
            #expect(status == 200)
            var samples: [String: Double] = [:]
            var types: [String: String] = [:]
            for line in body.split(separator: "\n") {
                if line.hasPrefix("# TYPE ") {
                    let parts = line.split(separator: " ")
                    types[String(parts[2])] = String(parts[3])
                    continue
                }
                if line.hasPrefix("#") { continue }
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                    Issue.record("unparsable sample: \(line)")
                    continue
                }
                samples[String(line[..<space])] = value
            }
            #expect(samples[#"gantry_tokens_total{node="m-1",model="sim-8b",tenant="acme",kind="completion"}"#] == 16)
            #expect(samples[#"gantry_jobs{state="succeeded"}"#] == 1)
            #expect(samples["gantry_queue_depth"] == 0)
            #expect(samples.keys.contains { $0.hasPrefix("gantry_spend_usd_total{node=\"m-1\"") })
            #expect(samples.keys.contains { $0.hasPrefix("gantry_energy_joules_total{node=\"m-1\"") })
            #expect(samples.keys.contains { $0.hasPrefix("gantry_cost_per_million_tokens{node=\"m-1\"") })
            #expect(samples.keys.contains { $0.hasPrefix("gantry_node_utilization{node=\"m-1\"") })
            #expect((samples["gantry_placement_seconds_count"] ?? 0) >= 1)
            #expect(types["gantry_placement_seconds"] == "histogram")
            #expect((samples["process_resident_memory_bytes"] ?? 0) > 1_000_000)
            #expect(samples["process_cpu_seconds_total"] != nil)
            #expect(samples["process_open_fds"] != nil)
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }
}
