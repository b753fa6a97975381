public import GantryModel

/// One `[[engine]]` table of `agent.toml`.
public struct EngineConfig: Hashable, Sendable {
    public var name: String
    public var kind: EngineKind
    public var models: [String]
    public var slots: Int
    /// Per-job time limit when the job sets none.
    public var timeoutMs: Int64 = 600_000

    // openai
    public var url: String = ""
    /// Probed every few seconds; a failing probe takes the engine's slots out of capacity.
    public var healthPath: String = "/v1/models"
    public var apiKeyFile: String?
    /// Scrape the engine's `/metrics` (and llama-server's `/slots`) this often; off with
    /// `telemetry = false`.
    public var telemetry = true
    public var telemetryIntervalMs: Int64 = 1000

    // exec
    public var command: [String] = []

    // sim
    public var ttftMs: Int64 = 20
    /// Per sequence; 0 generates instantly (for benchmarks).
    public var tokensPerSecond: Double = 50

    public init(name: String, kind: EngineKind, models: [String], slots: Int) {
        self.name = name
        self.kind = kind
        self.models = models
        self.slots = slots
    }
}

/// `agent.toml`.
public struct AgentConfig: Hashable, Sendable {
    /// `coordinator = "h:7420"`, or `coordinators = ["h1:7420", "h2:7420"]` (a leader and its
    /// standbys: the agent finds the leader among them).
    public var coordinators = [HostPort(host: "127.0.0.1", port: 7420)]
    /// Nil: the host name.
    public var nodeID: String?
    public var joinTokenFile = "/etc/gantry/join.token"
    public var stateDir = "/var/lib/gantry-agent"
    public var labels: Labels = [:]
    public var cost: CostProfile = .free
    public var engines: [EngineConfig] = []
    public var maxFrameBytes = 4 * 1024 * 1024
    public var logLevel = "info"
    /// [tls]: connect over TLS, trusting ca_file; cert_file/key_file for mutual TLS (the
    /// certificate's name must be the node id).
    public var tlsCAFile: String?
    public var tlsCertFile: String?
    public var tlsKeyFile: String?
    public var tlsServerName: String?
    public var tlsEnabled = false
    /// How long running jobs may take to finish on SIGTERM.
    public var shutdownTimeoutMs: Int64 = 30_000
    /// How often engines are health-probed (their `health_path`).
    public var healthIntervalMs: Int64 = 5000

    public init() {}

    public static let defaultPath = "/etc/gantry/agent.toml"

    public init(toml text: String, file: String) throws(ConfigError) {
        self.init()
        let root: TOMLTable
        do {
            root = try TOML.parse(text)
        } catch {
            throw ConfigError("\(file): \(error)")
        }
        var top = TableReader(root, file: file)
        if let one = try top.hostPort("coordinator") { coordinators = [one] }
        if let list = try top.strings("coordinators") {
            guard top.table["coordinator"] == nil else { throw top.fail("coordinators", "give coordinator or coordinators, not both") }
            guard !list.isEmpty else { throw top.fail("coordinators", "the list is empty") }
            do {
                coordinators = try list.map { text throws(AddressError) in try HostPort(parsing: text) }
            } catch {
                throw top.fail("coordinators", error.message)
            }
        }
        if let id = try top.string("node_id") {
            guard NodeID.isValid(id) else {
                throw top.fail("node_id", "'\(id)' is not a valid node id (1-63 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit)")
            }
            nodeID = id
        }
        joinTokenFile = try top.string("join_token_file") ?? joinTokenFile
        stateDir = try top.string("state_dir") ?? stateDir
        maxFrameBytes = try top.int("max_frame_bytes", in: 1024...(256 * 1024 * 1024)) ?? maxFrameBytes
        if var t = try top.table("log") {
            logLevel = try t.string("level") ?? logLevel
            try t.rejectUnknownKeys(known: ["level"])
        }
        shutdownTimeoutMs = try top.durationMillis("shutdown_timeout") ?? shutdownTimeoutMs
        healthIntervalMs = try top.durationMillis("health_interval") ?? healthIntervalMs
        guard healthIntervalMs >= 100 else { throw top.fail("health_interval", "must be at least 100ms") }
        if var t = try top.table("tls") {
            tlsEnabled = true
            tlsCAFile = try t.string("ca_file")
            tlsCertFile = try t.string("cert_file")
            tlsKeyFile = try t.string("key_file")
            tlsServerName = try t.string("server_name")
            try t.rejectUnknownKeys(known: ["ca_file", "cert_file", "key_file", "server_name"])
            if (tlsCertFile == nil) != (tlsKeyFile == nil) {
                throw t.fail(tlsCertFile == nil ? "key_file" : "cert_file", "a client certificate needs both cert_file and key_file")
            }
        }
        if var t = try top.table("labels") {
            for key in t.table.keys {
                guard let v = try t.string(key) else { continue }
                labels[key] = v
            }
        }
        if var t = try top.table("cost") { cost = try Self.cost(&t) }
        var names: Set<String> = []
        for var e in try top.tables("engine") {
            let engine = try Self.engine(&e)
            guard names.insert(engine.name).inserted else { throw e.fail("name", "engine name '\(engine.name)' is used twice") }
            engines.append(engine)
        }
        try top.rejectUnknownKeys(known: [
            "coordinator", "coordinators", "node_id", "join_token_file", "state_dir", "max_frame_bytes", "shutdown_timeout", "health_interval", "log", "tls", "labels",
            "cost", "engine",
        ])
    }

    static func cost(_ t: inout TableReader, extraKeys: [String] = []) throws(ConfigError) -> CostProfile {
        let kindName = try t.string("kind") ?? "owned"
        func micro(_ dollars: Double) -> Int64 { Int64((dollars * 1_000_000).rounded()) }
        var c = CostProfile()
        switch kindName {
        case "owned":
            c.kind = .owned
            c.purchaseMicroUSD = micro(try t.number("purchase_usd", in: 0...1e12) ?? 0)
            c.residualMicroUSD = micro(try t.number("residual_usd", in: 0...1e12) ?? 0)
            let years = try t.number("lifetime_years", in: 0.01...100) ?? 4
            c.lifetimeSeconds = Int64((years * 365 * 86_400).rounded())
            c.overheadMicroUSDPerHour = micro(try t.number("overhead_usd_per_hour", in: 0...1e6) ?? 0)
            c.electricityMicroUSDPerKWh = micro(try t.number("electricity_usd_per_kwh", in: 0...100) ?? 0)
            c.pueMilli = Int64(((try t.number("pue", in: 1...5) ?? 1) * 1000).rounded())
            c.idleMilliwatts = Int64(((try t.number("idle_watts", in: 0...1e6) ?? 0) * 1000).rounded())
            c.busyMilliwatts = Int64(((try t.number("busy_watts", in: 0...1e6) ?? 0) * 1000).rounded())
            if c.residualMicroUSD > c.purchaseMicroUSD {
                throw t.fail("residual_usd", "residual value is more than the purchase price")
            }
            if c.busyMilliwatts < c.idleMilliwatts {
                throw t.fail("busy_watts", "busy_watts is lower than idle_watts")
            }
            try t.rejectUnknownKeys(known: [
                "kind", "purchase_usd", "residual_usd", "lifetime_years", "overhead_usd_per_hour",
                "electricity_usd_per_kwh", "pue", "idle_watts", "busy_watts",
            ] + extraKeys)
        case "cloud":
            c.kind = .cloud
            guard let perHour = try t.number("usd_per_hour", in: 0...1e6) else {
                throw t.fail("kind", "kind = \"cloud\" needs usd_per_hour")
            }
            c.cloudMicroUSDPerHour = micro(perHour)
            c.idleMilliwatts = Int64(((try t.number("idle_watts", in: 0...1e6) ?? 0) * 1000).rounded())
            c.busyMilliwatts = Int64(((try t.number("busy_watts", in: 0...1e6) ?? 0) * 1000).rounded())
            try t.rejectUnknownKeys(known: ["kind", "usd_per_hour", "idle_watts", "busy_watts"] + extraKeys)
        default:
            throw t.fail("kind", "'\(kindName)' is not a cost kind (owned or cloud)")
        }
        return c
    }

    static func engine(_ t: inout TableReader) throws(ConfigError) -> EngineConfig {
        guard let name = try t.string("name"), !name.isEmpty else { throw t.fail("name", "every [[engine]] needs a name") }
        guard let kindName = try t.string("kind") else { throw t.fail("kind", "engine '\(name)' needs kind = \"openai\", \"exec\" or \"sim\"") }
        guard let kind = EngineKind(rawValue: kindName) else {
            throw t.fail("kind", "'\(kindName)' is not an engine kind (openai, exec or sim)")
        }
        guard let models = try t.strings("models"), !models.isEmpty, models.allSatisfy({ !$0.isEmpty }) else {
            throw t.fail("models", "engine '\(name)' needs a non-empty list of models")
        }
        let slots = try t.int("slots", in: 1...100_000) ?? 1
        var e = EngineConfig(name: name, kind: kind, models: models, slots: slots)
        e.timeoutMs = try t.durationMillis("timeout") ?? e.timeoutMs
        var known = ["name", "kind", "models", "slots", "timeout"]
        switch kind {
        case .openai:
            guard let url = try t.string("url") else { throw t.fail("url", "openai engine '\(name)' needs url (e.g. \"http://127.0.0.1:8080\")") }
            guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > 8 else {
                throw t.fail("url", "'\(url)' is not an http:// or https:// URL")
            }
            e.url = url.hasSuffix("/") ? String(url.dropLast()) : url
            e.healthPath = try t.string("health_path") ?? e.healthPath
            guard e.healthPath.hasPrefix("/") else { throw t.fail("health_path", "'\(e.healthPath)' must start with /") }
            e.apiKeyFile = try t.string("api_key_file")
            e.telemetry = try t.bool("telemetry") ?? e.telemetry
            e.telemetryIntervalMs = try t.durationMillis("telemetry_interval") ?? e.telemetryIntervalMs
            guard e.telemetryIntervalMs >= 100 else { throw t.fail("telemetry_interval", "must be at least 100ms") }
            known += ["url", "health_path", "api_key_file", "telemetry", "telemetry_interval"]
        case .exec:
            guard let command = try t.strings("command"), !command.isEmpty, !command[0].isEmpty else {
                throw t.fail("command", "exec engine '\(name)' needs command = [\"/path/to/program\", \"arg\", …]")
            }
            e.command = command
            known += ["command"]
        case .sim:
            e.ttftMs = try t.integer("ttft_ms", in: 0...600_000) ?? e.ttftMs
            e.tokensPerSecond = try t.number("tokens_per_second", in: 0...1_000_000) ?? e.tokensPerSecond
            known += ["ttft_ms", "tokens_per_second"]
        }
        try t.rejectUnknownKeys(known: known)
        return e
    }
}
