public import GantryConfig
public import GantryCore
import GantryModel
public import GantryWire
import GantryPlacement
public import GantryNet
public import NIOSSL

/// Everything the coordinator shell needs at start-up, resolved from config and flags.
public struct CoordinatorOptions: Sendable {
    public var listen: HostPort
    public var http: HostPort
    public var maxFrameBytes: Int
    public var handshakeTimeoutMs: Int64
    public var settings: CoordinatorSettings
    public var credentials: Credentials
    public var serverID: String
    /// Where the store lives; nil runs without persistence (tests).
    public var stateDir: String?
    public var minFreeBytes: UInt64 = 64 << 20
    public var retentionMs: Int64 = 7 * 86_400_000
    public var limits = Admission.Limits()
    /// TLS on the protocol listener; `mutualTLS` binds agents' node ids to their certificates.
    public var tls: NIOSSLContext?
    public var mutualTLS = false
    public var idleTimeoutMs: Int64 = 300_000
    public var maxInflightRequests = 64
    /// Called (on the writer thread) when the store cannot be written; gantryd exits.
    public var onStoreFailure: @Sendable (any Error) -> Void = { _ in }

    public init(
        listen: HostPort, http: HostPort, maxFrameBytes: Int = defaultMaxFrameBytes, handshakeTimeoutMs: Int64 = 5000,
        settings: CoordinatorSettings = CoordinatorSettings(), credentials: Credentials, serverID: String = "gantryd"
    ) {
        self.listen = listen
        self.http = http
        self.maxFrameBytes = maxFrameBytes
        self.handshakeTimeoutMs = handshakeTimeoutMs
        self.settings = settings
        self.credentials = credentials
        self.serverID = serverID
    }

    /// Builds options from a parsed config, reading the token files.
    public init(config: CoordinatorConfig, software: String) throws(ConfigError) {
        func secret(_ path: String, _ purpose: String) throws(ConfigError) -> Secret {
            let text = try ConfigFile.readToken(path, purpose: purpose)
            guard let s = Secret(text) else { throw ConfigError("\(purpose) file \(path) is empty") }
            return s
        }
        let join = try secret(config.joinTokenFile, "join token")
        let admin = try secret(config.adminTokenFile, "admin token")
        let readOnly = try config.readonlyTokenFile.map { (p) throws(ConfigError) in try secret(p, "read-only token") }
        var settings = CoordinatorSettings()
        settings.heartbeatIntervalMs = config.heartbeatIntervalMs
        settings.ttlMs = config.ttlMs
        settings.assignTimeoutMs = config.assignTimeoutMs
        settings.maxAttempts = config.maxAttempts
        settings.maxQueued = config.maxQueued
        settings.maxOutputBytes = config.maxOutputBytes
        settings.maxPromptBytes = config.maxPromptBytes
        settings.defaultMaxTokens = config.defaultMaxTokens
        settings.maxMaxTokens = config.maxTokensLimit
        settings.maxJobsPerSubmit = config.maxJobsPerSubmit
        settings.weights = ScoringWeights(leastLoaded: config.weightLeastLoaded, binPack: config.weightBinPack, cost: config.weightCost)
        settings.maxCandidates = config.maxCandidates
        settings.software = software
        settings.costOverrides = config.costOverrides.compactMap { o in
            switch o.match {
            case .node(let n): return NodeID(n).map { CostOverride(match: .node($0), profile: o.profile) }
            case .label(let k, let v): return CostOverride(match: .label(key: k, value: v), profile: o.profile)
            }
        }
        self.init(
            listen: config.listen, http: config.http, maxFrameBytes: config.maxFrameBytes,
            handshakeTimeoutMs: config.handshakeTimeoutMs, settings: settings,
            credentials: Credentials(join: join, admin: admin, readOnly: readOnly), serverID: software)
        self.stateDir = config.stateDir
        self.limits = Admission.Limits(
            maxConnections: config.maxConnections, maxConnectionsPerAddress: config.maxConnectionsPerAddress,
            authFailuresPerMinute: config.authFailuresPerMinute)
        self.idleTimeoutMs = config.idleTimeoutMs
        if let cert = config.tlsCertFile, let key = config.tlsKeyFile {
            do {
                self.tls = try GantryTLS.serverContext(certFile: cert, keyFile: key, clientCAFile: config.tlsClientCAFile)
            } catch {
                throw ConfigError(error.description)
            }
            self.mutualTLS = config.tlsClientCAFile != nil
        }
        self.maxInflightRequests = config.maxInflightRequests
        self.minFreeBytes = config.minFreeBytes
        self.retentionMs = config.retentionMs
    }
}
