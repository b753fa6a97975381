import Foundation
import Testing

/// A local cluster of the shipped binaries on loopback: one gantryd, any number of agents.
final class Cluster: @unchecked Sendable {
    let scratch: Scratch
    var gantryd: Daemon
    var port: Int
    var httpPort: Int
    var apiPort: Int
    private var gantrydRuns = 0
    var agents: [String: Daemon] = [:]
    let ttlMs: Int

    struct Options {
        var intervalMs = 200
        var ttlMs = 2000
        var handshakeTimeoutMs = 5000
        var extra = ""
        /// More `[api]` keys.
        var api = ""
        /// A fixed protocol port, so agents find a restarted gantryd.
        var listenPort = 0
        /// Fixed HTTP and API ports too (a standby that takes over listens where it did).
        var httpPort = 0
        var apiPort = 0
    }

    init(_ options: Options = Options(), stateDir: String? = nil, minFreeBytes: Int = 1 << 20) async throws {
        let scratch = try Scratch()
        self.scratch = scratch
        let stateDir = stateDir ?? scratch.path + "/state"
        try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        self.ttlMs = options.ttlMs
        let config = try scratch.write("gantryd.toml", """
            [server]
            listen = "127.0.0.1:\(options.listenPort)"
            http = "127.0.0.1:\(options.httpPort)"
            state_dir = "\(stateDir)"
            min_free_bytes = \(minFreeBytes)
            [api]
            listen = "127.0.0.1:\(options.apiPort)"
            \(options.api)
            [auth]
            join_token_file = "\(scratch.file("join.token"))"
            admin_token_file = "\(scratch.file("admin.token"))"
            readonly_token_file = "\(scratch.file("readonly.token"))"
            [heartbeat]
            interval_ms = \(options.intervalMs)
            ttl_ms = \(options.ttlMs)
            handshake_timeout_ms = \(options.handshakeTimeoutMs)
            \(options.extra)
            """)
        (gantryd, port, httpPort, apiPort) = try await Self.launchGantryd(config: config, scratch: scratch, run: 0)
    }

    static func launchGantryd(config: String, scratch: Scratch, run: Int) async throws -> (Daemon, Int, Int, Int) {
        let d = try Daemon(Binaries.path("gantryd"), ["--config", config, "--log-level", "debug"], name: run == 0 ? "gantryd" : "gantryd-\(run)", logDirectory: scratch.url)
        guard let p = Int(try await d.awaitLog(#"protocol listener ready listen=127\.0\.0\.1:(\d+)"#)),
            let h = Int(try await d.awaitLog(#"HTTP listener ready http=127\.0\.0\.1:(\d+)"#)),
            let a = Int(try await d.awaitLog(#"API listener ready api=127\.0\.0\.1:(\d+)"#))
        else { throw TestFailure("no port in gantryd's log") }
        return (d, p, h, a)
    }

    /// kill -9 gantryd, then start it again on the same state and port.
    func crashAndRestartGantryd() async throws {
        gantryd.killHard()
        gantrydRuns += 1
        previousGantryds.append(gantryd)
        (gantryd, port, httpPort, apiPort) = try await Self.launchGantryd(config: scratch.file("gantryd.toml"), scratch: scratch, run: gantrydRuns)
    }

    var previousGantryds: [Daemon] = []

    var address: String { "127.0.0.1:\(port)" }

    /// More gantryds on the same PostgreSQL store (high availability), by instance number.
    var others: [Int: (daemon: Daemon, port: Int, httpPort: Int, apiPort: Int)] = [:]
    /// Gantryds paused with SIGSTOP.
    var stopped: Set<Int> = []
    /// Every gantryd's protocol address: what agents and gantryctl are given.
    var coordinatorAddresses: [String] { [address] + others.keys.sorted().map { "127.0.0.1:\(others[$0]!.port)" } }

    /// Starts an agent with the given `[[engine]]` tables (TOML) and labels.
    @discardableResult
    func startAgent(_ id: String, engines: String = Cluster.simEngine(), labels: [String: String] = [:], cost: String = "", nodeID: String? = nil, extra: String = "") throws -> Daemon {
        let labelLines = labels.sorted { $0.key < $1.key }.map { "\($0.key) = \"\($0.value)\"" }.joined(separator: "\n")
        let config = try scratch.write("\(id).toml", """
            coordinators = [\(coordinatorAddresses.map { "\"\($0)\"" }.joined(separator: ", "))]
            node_id = "\(nodeID ?? id)"
            join_token_file = "\(scratch.file("join.token"))"
            state_dir = "\(scratch.path)/\(id)"
            \(extra)
            [labels]
            \(labelLines)
            \(cost)
            \(engines)
            """)
        try FileManager.default.createDirectory(atPath: "\(scratch.path)/\(id)", withIntermediateDirectories: true)
        let agent = try Daemon(Binaries.path("gantry-agent"), ["--config", config, "--log-level", "debug"], name: id, logDirectory: scratch.url)
        agents[id] = agent
        return agent
    }

    static func simEngine(models: [String] = ["sim-8b"], slots: Int = 4, ttftMs: Int = 5, tokensPerSecond: Double = 2000) -> String {
        """
        [[engine]]
        name = "sim"
        kind = "sim"
        models = [\(models.map { "\"\($0)\"" }.joined(separator: ", "))]
        slots = \(slots)
        ttft_ms = \(ttftMs)
        tokens_per_second = \(tokensPerSecond)
        """
    }

    /// Runs gantryctl against this cluster.
    func ctl(_ arguments: [String], token: String = "admin.token", timeout: Double = 60) async throws -> CommandResult {
        try await runCommand(
            Binaries.path("gantryctl"), arguments,
            environment: ["GANTRY_COORDINATOR": coordinatorAddresses.joined(separator: ","), "GANTRY_TOKEN_FILE": scratch.file(token)], timeout: timeout)
    }

    /// Runs gantryctl with `--output json` and parses stdout; fails on a non-zero exit.
    func ctlJSON(_ arguments: [String], token: String = "admin.token") async throws -> [String: Any] {
        let r = try await ctl(arguments + ["--output", "json"], token: token)
        guard r.status == 0 else { throw TestFailure("gantryctl \(arguments.joined(separator: " ")) exited \(r.status): \(r.stderr)") }
        guard let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw TestFailure("gantryctl printed no JSON object: \(r.stdout)")
        }
        return object
    }

    /// Node id → state, from `gantryctl nodes ls`.
    func nodeStates() async throws -> [String: String] {
        let nodes = try await ctlJSON(["nodes", "ls"])["nodes"] as? [[String: Any]] ?? []
        var out: [String: String] = [:]
        for n in nodes { out[n["id"] as! String] = n["state"] as? String }
        return out
    }

    func stop() async {
        for agent in agents.values { await agent.stop() }
        for other in others.values { await other.daemon.stop() }
        await gantryd.stop()
    }

    /// Everything the daemons logged, for failure messages.
    var logs: String {
        (previousGantryds + [gantryd] + others.values.map(\.daemon) + agents.values).map { "== \($0.name)\n\($0.output.suffix(4000))" }.joined(separator: "\n")
    }
}
