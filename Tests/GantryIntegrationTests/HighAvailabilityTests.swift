import Foundation
import GantryConfig
import GantryControl
import GantryModel
import GantryTestSupport
import GantryWire
import Testing

/// Two gantryds on one PostgreSQL store (scripts/test's server, a fresh database each), three
/// agents with sim engines, the shipped binaries.
@Suite("High availability on PostgreSQL (shipped binaries)", .serialized, .enabled(if: TestPostgres.enabled, "needs scripts/test's PostgreSQL server"))
struct HighAvailabilityTests {
    static let leaseTtlMs = 2000

    /// A leader (instance 0) and a standby (instance 1), and agents a, b, c.
    static func cluster() async throws -> Cluster {
        let cluster = try await Cluster.highlyAvailable(leaseTtl: "\(leaseTtlMs)ms")
        try await eventually("the first gantryd leads") { await cluster.leader() == 0 }
        try await cluster.startInstance(1)
        for id in ["a", "b", "c"] { try cluster.startAgent(id, engines: Cluster.simEngine(slots: 16, ttftMs: 1, tokensPerSecond: 4000)) }
        try await eventually("3 ready") { try await cluster.nodeStates().values.filter { $0 == "ready" }.count == 3 }
        return cluster
    }

    @Test("a standby sends clients to the leader; status shows leader, epoch and standbys; /readyz is 503 on the standby")
    func standby() async throws {
        let cluster = try await Self.cluster()
        do {
            let standbyHTTP = cluster.httpPorts[1]!
            let (ready, _) = try await httpGet("http://127.0.0.1:\(standbyHTTP)/readyz")
            #expect(ready == 503)
            let (health, body) = try await httpGet("http://127.0.0.1:\(standbyHTTP)/healthz")
            #expect(health == 200 && body.contains("\"standby\"") && body.contains("127.0.0.1:\(cluster.port)"))
            // gantryctl pointed at the standby alone follows it to the leader.
            let r = try await runCommand(
                Binaries.path("gantryctl"), ["status", "--output", "json"],
                environment: ["GANTRY_COORDINATOR": "127.0.0.1:\(cluster.others[1]!.port)", "GANTRY_TOKEN_FILE": cluster.scratch.file("admin.token")])
            #expect(r.status == 0, "\(r.stderr)")
            let status = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
            let leader = status["leader"] as? [String: Any]
            #expect(leader?["address"] as? String == "127.0.0.1:\(cluster.port)")
            #expect((leader?["epoch"] as? Int ?? 0) >= 1)
            try await eventually("the standby is listed") {
                (try await cluster.ctlJSON(["status"])["standbys"] as? [String]) == ["127.0.0.1:\(cluster.others[1]!.port)"]
            }
            // The API on the standby names the leader.
            let (api, apiBody) = try await httpPost("http://127.0.0.1:\(cluster.others[1]!.apiPort)/v1/completions", body: "{}")
            #expect(api == 503 && apiBody.contains("not_leader"))
            let (metricsStatus, metrics) = try await httpGet("http://127.0.0.1:\(cluster.httpPort)/metrics")
            #expect(metricsStatus == 200 && metrics.contains("gantry_leader{instance=") && metrics.contains("} 1"))
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("kill -9 the leader three times during 2,000 submits: a standby serves within seconds each time; every acknowledged job succeeds exactly once; the ledger is exact")
    func failoverUnderLoad() async throws {
        let cluster = try await Self.cluster()
        let token = Secret(try String(contentsOfFile: cluster.scratch.file("admin.token"), encoding: .utf8))!
        let addresses = try cluster.coordinatorAddresses.map { try HostPort(parsing: $0) }
        let acked = AckedIDs()
        let total = 2000
        var takeovers: [Double] = []
        do {
            let client = CrashTests.submitter(addresses, token: token, total: total, acked: acked)
            var rng = SystemRandomNumberGenerator()
            for round in 1...3 {
                let target = total * round / 4 + Int.random(in: -150...150, using: &rng)
                try await eventually("\(target) acknowledged", timeout: 120) { acked.count >= target }
                guard let leader = await cluster.leader() else { throw TestFailure("no leader before round \(round)") }
                cluster.daemon(leader).killHard()
                let killed = Date()
                var successor = leader
                try await eventually("a new leader", timeout: Double(Self.leaseTtlMs) / 1000 + 10) {
                    if let now = await cluster.leader(), now != leader {
                        successor = now
                        return true
                    }
                    return false
                }
                // When the successor's API listener was up, by its own log's clock (this test's
                // polling, on a busy host, would add its own delays).
                let ready = Self.lastTimestamp(of: "API listener ready", in: cluster.daemon(successor).output)
                takeovers.append((ready ?? Date()).timeIntervalSince(killed))
                // The old leader comes back, as a standby.
                try await cluster.killAndRestart(leader)
            }
            _ = await client.value
            try await CrashTests.drained(cluster)
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        print("takeovers after kill -9 (s): \(takeovers.map { String(format: "%.2f", $0) })")
        #expect(takeovers.count == 3)
        // Alone a standby serves 1.4–2.7 s after the kill (`scripts/bench failover`, which is
        // where the lease_ttl + 2 s figure is checked, with release builds); beside the rest of
        // this suite on two cores, these debug builds, starved, have taken up to 9.2 s (on
        // 2026-12-03; 5.2 s before), so here the bound only catches a standby that waits for
        // more than a few lease periods or never serves.
        for t in takeovers { #expect(t <= Double(Self.leaseTtlMs) / 1000 + 10, "a standby served \(t) s after the leader died") }
        let url = try storeURL(cluster)
        await cluster.stop()
        try await CrashTests.Audit(postgres: url).verify(acked, total: total)
    }

    @Test("SIGSTOP the leader: a standby takes over; SIGCONT: the old leader commits nothing, steps down and says so")
    func fencing() async throws {
        let cluster = try await Self.cluster()
        do {
            let old = cluster.gantryd
            cluster.pause(0)
            try await eventually("the standby leads", timeout: 10) { await cluster.leader() == 1 }
            // Work goes on through the new leader while the old one is frozen.
            let r = try await cluster.ctl(["submit", "--model", "sim-8b", "--prompt", "after the takeover", "--max-tokens", "8", "--wait"], timeout: 60)
            #expect(r.status == 0, "\(r.stderr)")
            cluster.resume(0)
            try await eventually("the old leader exits", timeout: 10) { !old.isRunning }
            #expect(old.terminationStatus == 75)
            #expect(old.output.contains("lost the leadership"))
            #expect(!old.output.contains("cannot write to the store"), "it must not have tried to commit")
            // Still one leader, serving.
            #expect(await cluster.leader() == 1)
            let s = try await cluster.ctlJSON(["status"])
            #expect(((s["leader"] as? [String: Any])?["address"] as? String) == "127.0.0.1:\(cluster.others[1]!.port)")
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("gantryd migrate copies a stopped SQLite coordinator into PostgreSQL, verified; a gantryd on it serves the same jobs")
    func migrate() async throws {
        let sqlite = try await Cluster()
        try sqlite.startAgent("a", engines: Cluster.simEngine(slots: 4))
        var ids: [String] = []
        do {
            try await eventually("ready") { try await sqlite.nodeStates()["a"] == "ready" }
            let lines = (0..<25).map { #"{"prompt": "migrate \#($0)", "max_tokens": 8}"# }
            let file = try sqlite.scratch.write("m.jsonl", lines.joined(separator: "\n") + "\n")
            let r = try await sqlite.ctl(["submit", "--model", "sim-8b", "--file", file, "--wait", "--output", "json"], timeout: 60)
            let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
            ids = (object["jobs"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(ids.count == 25)
        } catch {
            Issue.record("\(error)\n\(sqlite.logs)")
        }
        await sqlite.stop()
        let url = try TestPostgres.freshDatabase()
        let run = try await runCommand(
            Binaries.path("gantryd"), ["migrate", "--from", "sqlite:\(sqlite.scratch.path)/state", "--to", url, "--password-file", TestPostgres.passwordFile!])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("verified") && run.stdout.contains("ledger    25"), "\(run.stdout)")
        // Again: the target is not empty any more, and it says so.
        let again = try await runCommand(
            Binaries.path("gantryd"), ["migrate", "--from", "sqlite:\(sqlite.scratch.path)/state", "--to", url, "--password-file", TestPostgres.passwordFile!])
        #expect(again.status != 0 && again.stderr.contains("already holds Gantry state"), "\(again.stderr)")
        // A gantryd on the copy.
        let store = """
            [store]
            kind = "postgres"
            url = "\(url)"
            password_file = "\(TestPostgres.passwordFile!)"
            """
        let copy = try await Cluster(Cluster.Options(extra: store, listenPort: try freePort(), httpPort: try freePort(), apiPort: try freePort()))
        do {
            try await eventually("it leads") { await copy.leader() == 0 }
            for id in ids.prefix(5) {
                #expect(try await copy.ctlJSON(["jobs", "get", id])["state"] as? String == "succeeded")
            }
            let report = try await copy.ctlJSON(["report", "--by", "node"])
            #expect(((report["total"] as? [String: Any])?["completion_tokens"] as? Int) == 25 * 8)
        } catch {
            Issue.record("\(error)\n\(copy.logs)")
        }
        await copy.stop()
    }

    /// The store URL a cluster's config names.
    func storeURL(_ cluster: Cluster) throws -> String {
        let config = try String(contentsOfFile: cluster.scratch.file("gantryd.toml"), encoding: .utf8)
        guard let line = config.split(separator: "\n").first(where: { $0.hasPrefix("url = ") }) else { throw TestFailure("no url in the config") }
        return String(line.dropFirst("url = \"".count).dropLast())
    }

    /// The time of the last log line containing `text` (lines start with an RFC 3339 time).
    static func lastTimestamp(of text: String, in log: String) -> Date? {
        guard let line = log.split(separator: "\n").last(where: { $0.contains(text) }), let stamp = line.split(separator: " ").first else { return nil }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: String(stamp))
    }
}
