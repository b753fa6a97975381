import Foundation
import GantryModel
import GantryWire
import Testing

@Suite("Limits over loopback (shipped gantryd)", .serialized)
struct LimitsIntegrationTests {
    func token(_ cluster: Cluster, _ name: String = "admin.token") throws -> String {
        try String(contentsOfFile: cluster.scratch.file(name), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("max connections per address: the next connection gets an error frame; others keep being served")
    func connectionsPerAddress() async throws {
        let cluster = try await Cluster(Cluster.Options(extra: "[limits]\nmax_connections_per_address = 3"))
        let admin = try token(cluster)
        var open: [RawPeer] = []
        for _ in 0..<3 {
            let p = try await RawPeer(port: cluster.port)
            guard case .welcome? = try await p.handshake(role: .admin, token: admin) else { Issue.record("no welcome"); return }
            open.append(p)
        }
        let fourth = try await RawPeer(port: cluster.port)
        let refused = try await fourth.receiveUntilClosed()
        guard case .error(let e, true)? = refused.first else { Issue.record("\(refused)"); return }
        #expect(e.code == .limitExceeded)
        #expect(e.message.contains("limits.max_connections_per_address = 3"))
        await open[0].close()
        do {
            try await eventually("a slot frees") {
                let p = try await RawPeer(port: cluster.port)
                defer { Task { await p.close() } }
                if case .welcome? = try await p.handshake(role: .admin, token: admin) { return true }
                return false
            }
        } catch {
            let sockets = try? await runCommand("/usr/bin/ss", ["-tnoi", "state", "all", "( sport = :\(cluster.port) or dport = :\(cluster.port) )"])
            Issue.record("\(error)\nsockets:\n\(sockets?.stdout ?? "?")\n\(cluster.logs)")
        }
        for p in open { await p.close() }
        await cluster.stop()
    }

    @Test("idle timeout: a connection that sends nothing is closed with idle_timeout")
    func idleTimeout() async throws {
        let cluster = try await Cluster(Cluster.Options(extra: "[limits]\nidle_timeout = \"1s\""))
        let peer = try await RawPeer(port: cluster.port)
        // Timed from before the handshake: gantryd's idle clock starts during it, and on a
        // loaded machine the test may see Welcome a tenth of a second later.
        let started = Date()
        guard case .welcome? = try await peer.handshake(role: .admin, token: try token(cluster)) else { Issue.record("no welcome"); return }
        let last = try await peer.receiveUntilClosed()
        guard case .error(let e, true)? = last.last else { Issue.record("\(last)"); return }
        #expect(e.code == .idleTimeout)
        #expect(Date().timeIntervalSince(started) >= 0.9)
        // Agents heartbeat, so they are never idle: while two silent control connections are
        // closed for idling, one after the other, the agent stays connected.
        try cluster.startAgent("busy-1")
        try await eventually("ready") { try await cluster.nodeStates()["busy-1"] == "ready" }
        for _ in 0..<2 {
            let silent = try await RawPeer(port: cluster.port)
            guard case .welcome? = try await silent.handshake(role: .admin, token: try token(cluster)) else { Issue.record("no welcome"); return }
            guard case .error(let e, true)? = try await silent.receiveUntilClosed().last, e.code == .idleTimeout else { Issue.record("not idle-closed"); return }
        }
        #expect(try await cluster.nodeStates()["busy-1"] == "ready")
        #expect(!cluster.agents["busy-1"]!.output.contains("reconnecting"))
        await cluster.stop()
    }

    @Test("max in-flight requests per control connection: the excess is refused, the connection stays usable")
    func inflight() async throws {
        let cluster = try await Cluster(Cluster.Options(extra: "[limits]\nmax_inflight_requests = 2"))
        let peer = try await RawPeer(port: cluster.port)
        guard case .welcome? = try await peer.handshake(role: .admin, token: try token(cluster)) else { Issue.record("no welcome"); return }
        // 20 submits in one write: each is answered only once durable, so many are in flight.
        try await peer.sendBurst((1...20).map { i in (.adminRequest(.submit([JobSpec(model: "m", prompt: "p\(i)")])), UInt64(i)) })
        var accepted = 0, refused = 0
        for _ in 1...20 {
            switch try await peer.receive() {
            case .adminResponse(.submitted)?: accepted += 1
            case .error(let e, false)? where e.code == .limitExceeded: refused += 1
            case let other: Issue.record("unexpected \(String(describing: other))")
            }
        }
        #expect(accepted >= 2 && refused >= 1 && accepted + refused == 20, "accepted \(accepted), refused \(refused)")
        try await peer.send(.adminRequest(.status), requestID: 99)
        let answer = try await peer.receive()
        guard case .adminResponse(.status)? = answer else { Issue.record("not usable: \(String(describing: answer))"); return }
        await peer.close()
        await cluster.stop()
    }

    @Test("an address that keeps failing the handshake is slowed down")
    func authPenalty() async throws {
        let cluster = try await Cluster(Cluster.Options(extra: "[limits]\nauth_failures_per_minute = 2"))
        for _ in 0..<3 {
            let p = try await RawPeer(port: cluster.port)
            _ = try await p.handshake(role: .admin, token: "wrong")
            await p.close()
        }
        let p = try await RawPeer(port: cluster.port)
        let started = Date()
        try await p.send(.hello(Hello(role: .admin)))
        guard case .challenge? = try await p.receive() else { Issue.record("no challenge"); return }
        #expect(Date().timeIntervalSince(started) >= 0.9, "challenge after \(Date().timeIntervalSince(started)) s")
        await p.close()
        // Other addresses are not affected (all tests run from 127.0.0.1, so check the counter).
        let (_, metrics) = try await httpGet("http://127.0.0.1:\(cluster.httpPort)/metrics")
        #expect(metrics.contains("gantry_handshake_failures_total{code=\"auth_failed\"} 3"))
        await cluster.stop()
    }
}
