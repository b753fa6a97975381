import Foundation
import Testing

@Suite("Membership over loopback (shipped binaries)", .serialized)
struct MembershipIntegrationTests {
    @Test("three agents register and are ready; one killed hard is lost within ttl + 1 s; restarted, it is ready again")
    func membership() async throws {
        let cluster = try await Cluster(Cluster.Options(intervalMs: 200, ttlMs: 2000))
        for id in ["node-a", "node-b", "node-c"] { try cluster.startAgent(id) }
        do {
            try await eventually("3 ready nodes") { try await cluster.nodeStates() == ["node-a": "ready", "node-b": "ready", "node-c": "ready"] }

            // kill -9 one agent: no goodbye, the kernel closes its socket.
            let killedAt = Date()
            cluster.agents["node-b"]!.killHard()
            try await eventually("node-b lost", timeout: 10) { try await cluster.nodeStates()["node-b"] == "lost" }
            // When gantryd decided, from its own log line (polling adds process start-up time).
            let stamp = try await cluster.gantryd.awaitLog(#"(\S+) warning node lost node.id=node-b"#)
            let lostAt = try Date(stamp, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
            let elapsed = lostAt.timeIntervalSince(killedAt)
            #expect(elapsed <= Double(cluster.ttlMs) / 1000 + 1, "lost after \(elapsed)s")
            #expect(elapsed >= Double(cluster.ttlMs) / 1000 - 0.5, "lost too early, after \(elapsed)s")
            #expect(try await cluster.nodeStates()["node-a"] == "ready")

            // Restarted under the same id, it is ready again.
            try cluster.startAgent("node-b")
            try await eventually("node-b ready again") { try await cluster.nodeStates()["node-b"] == "ready" }
            let nodes = try await cluster.nodeStates()
            #expect(nodes.count == 3)

            // nodes get shows the inventory.
            let node = try await cluster.ctlJSON(["nodes", "get", "node-b"])
            #expect((node["cpus"] as? Int ?? 0) > 0)
            #expect((node["memory_bytes"] as? Int ?? 0) > 0)
            #expect((node["engines"] as? [[String: Any]])?.first?["name"] as? String == "sim")
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("cordon and uncordon through gantryctl")
    func cordon() async throws {
        let cluster = try await Cluster()
        try cluster.startAgent("node-a")
        do {
            try await eventually("ready") { try await cluster.nodeStates()["node-a"] == "ready" }
            let r = try await cluster.ctl(["nodes", "cordon", "node-a"])
            #expect(r.status == 0 && r.stdout.contains("node node-a is cordoned"))
            #expect(try await cluster.nodeStates()["node-a"] == "cordoned")
            _ = try await cluster.ctl(["nodes", "uncordon", "node-a"])
            #expect(try await cluster.nodeStates()["node-a"] == "ready")
            let missing = try await cluster.ctl(["nodes", "get", "nope"])
            #expect(missing.status == 1)
            #expect(missing.stderr == "gantryctl: error: node nope is not known to this coordinator\n")
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("SIGTERM: every connected agent is told goodbye, and gantryd exits 0 once they have gone")
    func gracefulShutdown() async throws {
        let cluster = try await Cluster(Cluster.Options(intervalMs: 200, ttlMs: 5000))
        for id in ["node-a", "node-b"] { try cluster.startAgent(id) }
        do {
            try await eventually("2 ready nodes") { try await cluster.nodeStates() == ["node-a": "ready", "node-b": "ready"] }
            let stoppedAt = Date()
            cluster.gantryd.signal(SIGTERM)
            for id in ["node-a", "node-b"] {
                _ = try await cluster.agents[id]!.awaitLog(#"the coordinator said goodbye reason="gantryd is shutting down""#)
            }
            try await eventually("gantryd exited", timeout: 10) { !cluster.gantryd.isRunning }
            #expect(cluster.gantryd.terminationStatus == 0)
            // The connections closed after their Goodbye: no wait for the drain's deadline (5 s).
            #expect(Date().timeIntervalSince(stoppedAt) < 4.5)
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("/healthz answers on the HTTP listener")
    func healthz() async throws {
        let cluster = try await Cluster()
        let (status, body) = try await httpGet("http://127.0.0.1:\(cluster.httpPort)/healthz")
        #expect(status == 200)
        #expect(body.contains("\"status\":\"ok\""))
        let (missing, _) = try await httpGet("http://127.0.0.1:\(cluster.httpPort)/nope")
        #expect(missing == 404)
        await cluster.stop()
    }
}
