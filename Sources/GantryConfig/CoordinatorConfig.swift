public import GantryModel

/// `gantryd.toml`. The keys that tune the core are parsed straight into its
/// `CoordinatorSettings` (their defaults live there, once); the rest are the shell's:
/// addresses, files, TLS and connection limits. Defaults are the README's.
public struct CoordinatorConfig: Hashable, Sendable {
    /// `[heartbeat]` (but the handshake timeout), `[jobs]` (but retention), `[placement]`
    /// and `[[cost_override]]`.
    public var settings = CoordinatorSettings()

    public var listen = HostPort(host: "127.0.0.1", port: 7420)
    public var http = HostPort(host: "127.0.0.1", port: 7421)
    /// `[api]`: the OpenAI-compatible HTTP API.
    public var apiListen = HostPort(host: "127.0.0.1", port: 7422)
    /// A request body over this gets 413.
    public var apiMaxBodyBytes = 4 << 20
    /// How long a request may wait for an engine with room before it gets 503.
    public var apiMaxQueueWaitMs: Int64 = 30_000
    public var stateDir = "/var/lib/gantry"
    public var maxFrameBytes = 4 * 1024 * 1024
    /// gantryd refuses to start with less free space than this under `state_dir`.
    public var minFreeBytes: UInt64 = 64 << 20

    public var joinTokenFile = "/etc/gantry/join.token"
    public var adminTokenFile = "/etc/gantry/admin.token"
    /// Optional: a token for dashboards and monitoring (list, get, watch, report).
    public var readonlyTokenFile: String?

    public var handshakeTimeoutMs: Int64 = 5000
    /// Prompts and outputs of finished jobs are pruned from the store after this.
    public var retentionMs: Int64 = 7 * 86_400_000

    public var logLevel = "info"

    /// `[store]`: SQLite in `state_dir` (one coordinator), or PostgreSQL (any number of
    /// gantryds, one leading: high availability).
    public enum StoreKind: String, Hashable, Sendable { case sqlite, postgres }
    public var storeKind = StoreKind.sqlite
    public var postgresURL: PostgresURL?
    public var postgresPasswordFile: String?
    /// `[ha]`: how long the leader's lease lasts without renewal, and the address clients
    /// are sent to when this gantryd leads (default: `server.listen`, or the host name
    /// with its port when that is a wildcard).
    public var leaseTtlMs: Int64 = 5000
    public var advertise: HostPort?

    /// `[history]`: how long the dashboard's per-minute rollups are kept.
    public var historyRetentionMs: Int64 = 30 * 86_400_000
    /// `[dashboard]`: how long a dashboard login lasts.
    public var sessionTtlMs: Int64 = 12 * 3_600_000

    // [tls]: serve the protocol over TLS; with client_ca_file, require client certificates
    // (mutual TLS) and bind each agent's node id to its certificate's name.
    public var tlsCertFile: String?
    public var tlsKeyFile: String?
    public var tlsClientCAFile: String?
    /// Serve the API listener, and the HTTP listener (metrics, dashboard), over TLS too,
    /// with the same certificate (never asking for client certificates).
    public var tlsAPI = false
    public var tlsHTTP = false

    // [limits]
    public var maxConnections = 10_000
    public var maxConnectionsPerAddress = 256
    public var idleTimeoutMs: Int64 = 300_000
    public var maxInflightRequests = 64
    public var authFailuresPerMinute = 5

    public init() {}

    public static let defaultPath = "/etc/gantry/gantryd.toml"

    /// Parses a config file's text. `file` names it in errors.
    public init(toml text: String, file: String) throws(ConfigError) {
        self.init()
        let root: TOMLTable
        do {
            root = try TOML.parse(text)
        } catch {
            throw ConfigError("\(file): \(error)")
        }
        var top = TableReader(root, file: file)

        if var t = try top.table("server") {
            listen = try t.hostPort("listen") ?? listen
            http = try t.hostPort("http") ?? http
            stateDir = try t.string("state_dir") ?? stateDir
            maxFrameBytes = try t.int("max_frame_bytes", in: 1024...(256 * 1024 * 1024)) ?? maxFrameBytes
            minFreeBytes = try t.integer("min_free_bytes", in: 0...Int64.max).map { UInt64($0) } ?? minFreeBytes
            try t.rejectUnknownKeys(known: ["listen", "http", "state_dir", "max_frame_bytes", "min_free_bytes"])
        }
        if var t = try top.table("api") {
            apiListen = try t.hostPort("listen") ?? apiListen
            apiMaxBodyBytes = try t.int("max_body_bytes", in: 1024...(256 << 20)) ?? apiMaxBodyBytes
            apiMaxQueueWaitMs = try t.durationMillis("max_queue_wait") ?? apiMaxQueueWaitMs
            try t.rejectUnknownKeys(known: ["listen", "max_body_bytes", "max_queue_wait"])
        }
        if var t = try top.table("auth") {
            joinTokenFile = try t.string("join_token_file") ?? joinTokenFile
            adminTokenFile = try t.string("admin_token_file") ?? adminTokenFile
            readonlyTokenFile = try t.string("readonly_token_file") ?? readonlyTokenFile
            try t.rejectUnknownKeys(known: ["join_token_file", "admin_token_file", "readonly_token_file"])
        }
        if var t = try top.table("heartbeat") {
            settings.heartbeatIntervalMs = try t.integer("interval_ms", in: 50...600_000) ?? settings.heartbeatIntervalMs
            settings.ttlMs = try t.integer("ttl_ms", in: 100...3_600_000) ?? settings.ttlMs
            handshakeTimeoutMs = try t.integer("handshake_timeout_ms", in: 100...600_000) ?? handshakeTimeoutMs
            try t.rejectUnknownKeys(known: ["interval_ms", "ttl_ms", "handshake_timeout_ms"])
            if settings.ttlMs <= settings.heartbeatIntervalMs {
                throw t.fail("ttl_ms", "ttl_ms (\(settings.ttlMs)) must be longer than interval_ms (\(settings.heartbeatIntervalMs))")
            }
        }
        if var t = try top.table("jobs") {
            settings.maxAttempts = try t.int("max_attempts", in: 1...100) ?? settings.maxAttempts
            settings.maxQueued = try t.int("max_queued", in: 1...100_000_000) ?? settings.maxQueued
            settings.maxOutputBytes = try t.int("max_output_bytes", in: 0...(64 * 1024 * 1024)) ?? settings.maxOutputBytes
            settings.maxPromptBytes = try t.int("max_prompt_bytes", in: 1...(64 * 1024 * 1024)) ?? settings.maxPromptBytes
            settings.defaultMaxTokens = try t.int("default_max_tokens", in: 1...1_000_000) ?? settings.defaultMaxTokens
            settings.maxTokensLimit = try t.int("max_tokens_limit", in: 1...10_000_000) ?? settings.maxTokensLimit
            settings.maxJobsPerSubmit = try t.int("max_jobs_per_submit", in: 1...1_000_000) ?? settings.maxJobsPerSubmit
            retentionMs = try t.durationMillis("retention") ?? retentionMs
            settings.assignTimeoutMs = try t.durationMillis("assign_timeout") ?? settings.assignTimeoutMs
            try t.rejectUnknownKeys(known: [
                "max_attempts", "max_queued", "max_output_bytes", "max_prompt_bytes", "default_max_tokens",
                "max_tokens_limit", "max_jobs_per_submit", "retention", "assign_timeout",
            ])
        }
        if var t = try top.table("placement") {
            settings.weights.leastLoaded = try t.number("least_loaded", in: 0...1000) ?? settings.weights.leastLoaded
            settings.weights.binPack = try t.number("bin_pack", in: 0...1000) ?? settings.weights.binPack
            settings.weights.cost = try t.number("cost", in: 0...1000) ?? settings.weights.cost
            settings.weights.engineQueue = try t.number("engine_queue", in: 0...1000) ?? settings.weights.engineQueue
            settings.weights.kvUsage = try t.number("kv_usage", in: 0...1000) ?? settings.weights.kvUsage
            settings.weights.prefixAffinity = try t.number("prefix_affinity", in: 0...1000) ?? settings.weights.prefixAffinity
            settings.maxCandidates = try t.int("max_candidates", in: 0...1_000_000) ?? settings.maxCandidates
            settings.engineLimits.kvHighWatermark = try t.number("kv_high_watermark", in: 0...1) ?? settings.engineLimits.kvHighWatermark
            settings.engineLimits.maxEngineQueue = try t.int("max_engine_queue", in: 0...1_000_000) ?? settings.engineLimits.maxEngineQueue
            settings.prefixBytes = try t.int("prefix_bytes", in: 16...1_048_576) ?? settings.prefixBytes
            try t.rejectUnknownKeys(known: [
                "least_loaded", "bin_pack", "cost", "engine_queue", "kv_usage", "prefix_affinity", "max_candidates",
                "kv_high_watermark", "max_engine_queue", "prefix_bytes",
            ])
        }
        if var t = try top.table("telemetry") {
            settings.driftWindowMs = try t.durationMillis("drift_window") ?? settings.driftWindowMs
            guard settings.driftWindowMs >= 1000 else { throw t.fail("drift_window", "must be at least 1s") }
            try t.rejectUnknownKeys(known: ["drift_window"])
        }
        if var t = try top.table("store") {
            let kind = try t.string("kind") ?? storeKind.rawValue
            guard let k = StoreKind(rawValue: kind) else { throw t.fail("kind", "'\(kind)' is not sqlite or postgres") }
            storeKind = k
            if let url = try t.string("url") {
                do {
                    postgresURL = try PostgresURL(parsing: url)
                } catch {
                    throw t.fail("url", error.message)
                }
            }
            postgresPasswordFile = try t.string("password_file")
            try t.rejectUnknownKeys(known: ["kind", "url", "password_file"])
            if storeKind == .postgres, postgresURL == nil {
                throw t.fail("url", "kind = \"postgres\" needs url = \"postgres://USER@HOST:5432/DATABASE\"")
            }
        }
        if var t = try top.table("ha") {
            leaseTtlMs = try t.durationMillis("lease_ttl") ?? leaseTtlMs
            guard (1000...600_000).contains(leaseTtlMs) else { throw t.fail("lease_ttl", "must be between 1s and 10m") }
            advertise = try t.hostPort("advertise")
            try t.rejectUnknownKeys(known: ["lease_ttl", "advertise"])
        }
        if var t = try top.table("history") {
            historyRetentionMs = try t.durationMillis("retention") ?? historyRetentionMs
            guard historyRetentionMs >= 3_600_000 else { throw t.fail("retention", "must be at least 1h") }
            try t.rejectUnknownKeys(known: ["retention"])
        }
        if var t = try top.table("dashboard") {
            sessionTtlMs = try t.durationMillis("session_ttl") ?? sessionTtlMs
            guard (60_000...(30 * 86_400_000)).contains(sessionTtlMs) else { throw t.fail("session_ttl", "must be between 1m and 30d") }
            try t.rejectUnknownKeys(known: ["session_ttl"])
        }
        if var t = try top.table("tls") {
            tlsCertFile = try t.string("cert_file")
            tlsKeyFile = try t.string("key_file")
            tlsClientCAFile = try t.string("client_ca_file")
            tlsAPI = try t.bool("api") ?? tlsAPI
            tlsHTTP = try t.bool("http") ?? tlsHTTP
            try t.rejectUnknownKeys(known: ["cert_file", "key_file", "client_ca_file", "api", "http"])
            if (tlsAPI || tlsHTTP) && tlsCertFile == nil {
                throw t.fail(tlsAPI ? "api" : "http", "HTTPS needs cert_file and key_file")
            }
            if (tlsCertFile == nil) != (tlsKeyFile == nil) {
                throw t.fail(tlsCertFile == nil ? "key_file" : "cert_file", "TLS needs both cert_file and key_file")
            }
            if tlsClientCAFile != nil && tlsCertFile == nil {
                throw t.fail("client_ca_file", "client_ca_file needs cert_file and key_file too")
            }
        }
        if var t = try top.table("limits") {
            maxConnections = try t.int("max_connections", in: 1...10_000_000) ?? maxConnections
            maxConnectionsPerAddress = try t.int("max_connections_per_address", in: 1...10_000_000) ?? maxConnectionsPerAddress
            idleTimeoutMs = try t.durationMillis("idle_timeout") ?? idleTimeoutMs
            maxInflightRequests = try t.int("max_inflight_requests", in: 1...1_000_000) ?? maxInflightRequests
            authFailuresPerMinute = try t.int("auth_failures_per_minute", in: 0...1_000_000) ?? authFailuresPerMinute
            try t.rejectUnknownKeys(known: [
                "max_connections", "max_connections_per_address", "idle_timeout", "max_inflight_requests", "auth_failures_per_minute",
            ])
            if idleTimeoutMs < 1000 { throw t.fail("idle_timeout", "must be at least 1s") }
        }
        if var t = try top.table("log") {
            logLevel = try t.string("level") ?? logLevel
            try t.rejectUnknownKeys(known: ["level"])
            guard LogLevelName.valid.contains(logLevel) else {
                throw t.fail("level", "'\(logLevel)' is not a log level (\(LogLevelName.valid.joined(separator: ", ")))")
            }
        }
        for var t in try top.tables("cost_override") {
            let node = try t.string("node")
            let label = try t.string("label")
            let match: CostOverride.Match
            switch (node, label) {
            case (let n?, nil):
                guard let id = NodeID(n) else { throw t.fail("node", "'\(n)' is not a valid node id") }
                match = .node(id)
            case (nil, let l?):
                let parts = l.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, !parts[0].isEmpty else { throw t.fail("label", "'\(l)' is not KEY=VALUE") }
                match = .label(key: String(parts[0]), value: String(parts[1]))
            default:
                throw ConfigError("\(t.location("kind")): \(t.path): give exactly one of node = \"ID\" and label = \"KEY=VALUE\"")
            }
            settings.costOverrides.append(CostOverride(match: match, profile: try AgentConfig.cost(&t, extraKeys: ["node", "label"])))
        }
        try top.rejectUnknownKeys(known: [
            "server", "api", "auth", "heartbeat", "jobs", "placement", "telemetry", "store", "ha", "history", "dashboard", "tls", "limits", "log", "cost_override",
        ])
    }

    /// The listeners gantryd binds need ports of their own (port 0, any free port, never
    /// clashes). `inherited` names those systemd handed over (`gantry`, `http`, `api`):
    /// their configured addresses are not used.
    public func checkListeners(inherited: Set<String> = []) throws(ConfigError) {
        let bound = [
            (key: "server.listen", address: listen, socket: "gantry"),
            (key: "server.http", address: http, socket: "http"),
            (key: "api.listen", address: apiListen, socket: "api"),
        ].filter { !inherited.contains($0.socket) }
        let wildcard: Set<String> = ["0.0.0.0", "::", "[::]", ""]
        for (i, a) in bound.enumerated() {
            for b in bound[(i + 1)...] where a.address.port != 0 && a.address.port == b.address.port {
                let hosts = [a.address.host, b.address.host]
                if hosts[0] == hosts[1] || hosts.contains(where: wildcard.contains) {
                    throw ConfigError("\(a.key) (\(a.address)) and \(b.key) (\(b.address)) would listen on the same port: give each its own")
                }
            }
        }
    }
}

public enum LogLevelName {
    public static let valid = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}
