import Foundation
import GantryConfig
import GantryModel
import Testing

@Suite("Config files")
struct ConfigTests {
    @Test("the documented gantryd.toml parses with its values")
    func coordinator() throws {
        let c = try CoordinatorConfig(toml: """
            [server]
            listen = "0.0.0.0:7420"
            http = "[::1]:7421"
            state_dir = "/var/lib/gantry"
            max_frame_bytes = 4194304
            [auth]
            join_token_file = "/etc/gantry/join.token"
            admin_token_file = "/etc/gantry/admin.token"
            [heartbeat]
            interval_ms = 1000
            ttl_ms = 10000
            [jobs]
            max_attempts = 3
            max_queued = 1000000
            max_output_bytes = 1048576
            retention = "7d"
            [placement]
            bin_pack = 1
            least_loaded = 0
            max_candidates = 0
            """, file: "g.toml")
        #expect(c.listen == HostPort(host: "0.0.0.0", port: 7420))
        #expect(c.http == HostPort(host: "::1", port: 7421))
        #expect(c.retentionMs == 7 * 86_400_000)
        #expect(c.settings.weights.binPack == 1 && c.settings.weights.leastLoaded == 0)
        #expect(c.settings.maxCandidates == 0)
        #expect(try CoordinatorConfig(toml: "", file: "g.toml").settings.maxCandidates == 4)
    }

    @Test("config mistakes name the file, line and key", arguments: [
        ("[server]\nlsiten = \"x:1\"", "g.toml:2: server.lsiten: unknown key (did you mean 'server.listen'?)"),
        ("[heartbeat]\nttl_ms = \"10s\"", "g.toml:2: heartbeat.ttl_ms: expected an integer, found string \"10s\""),
        ("[server]\nlisten = \"nohost\"", "g.toml:2: server.listen: 'nohost' is not HOST:PORT (no port)"),
        ("[server]\nlisten = \"h:99999\"", "port must be 0-65535"),
        ("[jobs]\nretention = \"7 days\"", "g.toml:2: jobs.retention: '7 days' is not a duration"),
        ("[jobs]\nmax_attempts = 0", "jobs.max_attempts: 0 is out of range 1...100"),
        ("[placement]\nmax_candidates = -1", "placement.max_candidates: -1 is out of range 0...1000000"),
        ("[heartbeat]\ninterval_ms = 1000\nttl_ms = 500", "ttl_ms (500) must be longer than interval_ms (1000)"),
        ("[bogus]\nx = 1", "g.toml:1: bogus: unknown key"),
        ("server = 1", "server: expected a table"),
        ("[server\n", "g.toml: line 1"),
        ("[tls]\napi = true", "g.toml:2: tls.api: HTTPS needs cert_file and key_file"),
        ("[history]\nretention = \"10m\"", "history.retention: must be at least 1h"),
        ("[dashboard]\nsession_ttl = \"5s\"", "dashboard.session_ttl: must be between 1m and 30d"),
    ])
    func coordinatorErrors(_ text: String, _ expected: String) {
        do {
            _ = try CoordinatorConfig(toml: text, file: "g.toml")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test("listeners that would share a port are refused, naming both; port 0, other addresses and sockets systemd hands over do not clash")
    func listeners() throws {
        let same = try CoordinatorConfig(toml: "[server]\nlisten = \"127.0.0.1:9000\"\n[api]\nlisten = \"127.0.0.1:9000\"", file: "g.toml")
        #expect(throws: ConfigError("server.listen (127.0.0.1:9000) and api.listen (127.0.0.1:9000) would listen on the same port: give each its own")) {
            try same.checkListeners()
        }
        let wildcard = try CoordinatorConfig(toml: "[server]\nhttp = \"0.0.0.0:7420\"", file: "g.toml")
        #expect(throws: ConfigError.self) { try wildcard.checkListeners() }
        try same.checkListeners(inherited: ["api"])
        try CoordinatorConfig(toml: "[server]\nlisten = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"", file: "g.toml").checkListeners()
        try CoordinatorConfig(toml: "[server]\nlisten = \"127.0.0.1:9000\"\nhttp = \"127.0.0.2:9000\"", file: "g.toml").checkListeners()
    }

    @Test("the shipped example configs (systemd/*.toml.example) parse")
    func shippedExamples() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("systemd")
        let coordinator = try String(contentsOf: dir.appendingPathComponent("gantryd.toml.example"), encoding: .utf8)
        let c = try CoordinatorConfig(toml: coordinator, file: "gantryd.toml.example")
        #expect(c.historyRetentionMs == 30 * 86_400_000 && c.apiListen.port == 7422)
        let agent = try String(contentsOf: dir.appendingPathComponent("agent.toml.example"), encoding: .utf8)
        _ = try AgentConfig(toml: agent, file: "agent.toml.example")
    }

    @Test("the documented agent.toml parses, engines and cost included")
    func agent() throws {
        let c = try AgentConfig(toml: """
            coordinator = "10.0.0.1:7420"
            node_id = "gpu-07"
            join_token_file = "/etc/gantry/join.token"
            state_dir = "/var/lib/gantry-agent"
            [labels]
            pool = "h200"
            [cost]
            kind = "owned"
            purchase_usd = 300000
            residual_usd = 30000
            lifetime_years = 4
            overhead_usd_per_hour = 1.50
            electricity_usd_per_kwh = 0.09
            pue = 1.3
            idle_watts = 900
            busy_watts = 6500
            [[engine]]
            name = "llama"
            kind = "openai"
            url = "http://127.0.0.1:8080/"
            models = ["tiny"]
            slots = 4
            [[engine]]
            name = "sim"
            kind = "sim"
            models = ["sim-8b"]
            slots = 64
            ttft_ms = 20
            tokens_per_second = 50
            [[engine]]
            name = "script"
            kind = "exec"
            command = ["/usr/local/bin/generate", "--model", "{model}", "--max-tokens", "{max_tokens}"]
            models = ["m"]
            slots = 1
            """, file: "a.toml")
        #expect(c.nodeID == "gpu-07")
        #expect(c.labels == ["pool": "h200"])
        #expect(c.cost.purchaseMicroUSD == 300_000_000_000)
        #expect(c.cost.lifetimeSeconds == 4 * 365 * 86_400)
        #expect(c.cost.pueMilli == 1300)
        #expect(c.cost.busyMilliwatts == 6_500_000)
        #expect(c.engines.map(\.name) == ["llama", "sim", "script"])
        #expect(c.engines[0].url == "http://127.0.0.1:8080")
        #expect(c.engines[1].tokensPerSecond == 50)
        #expect(c.engines[2].command.count == 5)
    }

    @Test("agent config mistakes are named", arguments: [
        ("[[engine]]\nname = \"x\"\nkind = \"gpu\"\nmodels = [\"m\"]", "engine[0].kind: 'gpu' is not an engine kind"),
        ("[[engine]]\nname = \"x\"\nkind = \"openai\"\nmodels = [\"m\"]", "openai engine 'x' needs url"),
        ("[[engine]]\nname = \"x\"\nkind = \"sim\"\nmodels = []", "needs a non-empty list of models"),
        ("[[engine]]\nname = \"x\"\nkind = \"sim\"\nmodels = [\"m\"]\n[[engine]]\nname = \"x\"\nkind = \"sim\"\nmodels = [\"m\"]", "used twice"),
        ("[[engine]]\nname = \"x\"\nkind = \"sim\"\nmodels = [\"m\"]\nurl = \"http://a:1\"", "engine[0].url: unknown key"),
        ("node_id = \"bad id\"", "node_id: 'bad id' is not a valid node id"),
        ("[cost]\nkind = \"cloud\"", "needs usd_per_hour"),
        ("[cost]\npurchase_usd = 10\nresidual_usd = 20", "residual value is more than the purchase price"),
        ("[labels]\npool = 3", "labels.pool: expected a string"),
    ])
    func agentErrors(_ text: String, _ expected: String) {
        do {
            _ = try AgentConfig(toml: text, file: "a.toml")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test("a missing default config file means defaults; a named one is an error")
    func missingFiles() throws {
        #expect(try ConfigFile.read("/nonexistent/gantryd.toml", isDefault: true) == nil)
        #expect(throws: ConfigError.self) { try ConfigFile.read("/nonexistent/gantryd.toml", isDefault: false) }
        #expect(throws: ConfigError.self) { try ConfigFile.readToken("/nonexistent/token", purpose: "join token") }
    }

    @Test("durations parse in every unit, combined too")
    func durations() {
        #expect(parseDurationMillis("500ms") == 500)
        #expect(parseDurationMillis("1h30m") == 5_400_000)
        #expect(parseDurationMillis("7d") == 604_800_000)
        #expect(parseDurationMillis("7") == nil)
        #expect(parseDurationMillis("x") == nil)
        #expect(parseDurationMillis("") == nil)
    }
}
