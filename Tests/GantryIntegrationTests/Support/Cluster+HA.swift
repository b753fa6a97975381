import Foundation
import GantryTestSupport

/// High availability in a test cluster: gantryds that share a fresh PostgreSQL database on
/// scripts/test's server, each on a fixed protocol port (standbys send clients there).
extension Cluster {
    /// The `[store]` and `[ha]` tables for a fresh database.
    static func postgresConfig(leaseTtl: String = "2s") throws -> String {
        let url = try TestPostgres.freshDatabase()
        guard let passwordFile = TestPostgres.passwordFile else { throw TestFailure("no GANTRY_TEST_POSTGRES_PASSWORD_FILE") }
        return """
            [store]
            kind = "postgres"
            url = "\(url)"
            password_file = "\(passwordFile)"
            [ha]
            lease_ttl = "\(leaseTtl)"
            """
    }

    /// A cluster whose first gantryd uses PostgreSQL (it leads once it takes the lease).
    static func highlyAvailable(intervalMs: Int = 200, ttlMs: Int = 5000, leaseTtl: String = "2s") async throws -> Cluster {
        try await Cluster(Cluster.Options(
            intervalMs: intervalMs, ttlMs: ttlMs, extra: try postgresConfig(leaseTtl: leaseTtl), listenPort: try freePort(), httpPort: try freePort(),
            apiPort: try freePort()))
    }

    /// Starts gantryd number `n` (n ≥ 1) on the same config and store, on its own ports.
    func startInstance(_ n: Int) async throws {
        let base = try String(contentsOfFile: scratch.file("gantryd.toml"), encoding: .utf8)
        let (port, http, api) = try others[n].map { ($0.port, $0.httpPort, $0.apiPort) } ?? (freePort(), freePort(), freePort())
        let config = try scratch.write("gantryd-\(n).toml", base
            .replacingOccurrences(of: "listen = \"127.0.0.1:\(self.port)\"", with: "listen = \"127.0.0.1:\(port)\"")
            .replacingOccurrences(of: "http = \"127.0.0.1:\(httpPort)\"", with: "http = \"127.0.0.1:\(http)\"")
            .replacingOccurrences(of: "listen = \"127.0.0.1:\(apiPort)\"", with: "listen = \"127.0.0.1:\(api)\""))
        let d = try Daemon(Binaries.path("gantryd"), ["--config", config, "--log-level", "debug"], name: "gantryd-i\(n)-\(Int.random(in: 0..<1_000_000))", logDirectory: scratch.url)
        _ = try await d.awaitLog(#"HTTP listener ready http=127\.0\.0\.1:(\d+)"#)
        if let old = others[n] { previousGantryds.append(old.daemon) }
        others[n] = (d, port, http, api)
    }

    /// The HTTP port of each running gantryd, by instance number (0 is the first).
    var httpPorts: [Int: Int] {
        var out = [0: httpPort]
        for (n, o) in others { out[n] = o.httpPort }
        return out
    }

    /// The instance answering /readyz with 200: the leader.
    func leader() async -> Int? {
        // A gantryd killed, or stopped, answers nothing: skip it rather than wait.
        for (n, port) in httpPorts.sorted(by: { $0.key < $1.key }) where daemon(n).isRunning && !stopped.contains(n) {
            if let (status, _) = try? await httpGet("http://127.0.0.1:\(port)/readyz"), status == 200 { return n }
        }
        return nil
    }

    func daemon(_ n: Int) -> Daemon { n == 0 ? gantryd : others[n]!.daemon }

    /// SIGSTOP / SIGCONT gantryd number `n` (a stopped one is not asked who leads).
    func pause(_ n: Int) {
        stopped.insert(n)
        daemon(n).signal(SIGSTOP)
    }

    func resume(_ n: Int) {
        daemon(n).signal(SIGCONT)
        stopped.remove(n)
    }

    /// kill -9 gantryd number `n` and start it again (as a standby).
    func killAndRestart(_ n: Int) async throws {
        if n == 0 { return try await crashAndRestartGantryd() }
        others[n]!.daemon.killHard()
        try await startInstance(n)
    }
}
