public import GantryConfig
public import GantryModel
public import GantryWire
public import GantryNet

/// Everything the agent shell needs, resolved from config and flags.
public struct AgentOptions: Sendable {
    /// The coordinators to try, in order; a standby's NotLeader sends the agent to the leader.
    public var coordinators: [HostPort]
    public var nodeID: NodeID
    public var token: Secret
    public var labels: Labels
    public var cost: CostProfile
    public var engines: [EngineConfig]
    public var stateDir: String
    public var maxFrameBytes: Int
    public var maxOutputBytes: Int
    public var software: String
    /// How often engines are health-probed.
    public var probeIntervalMs: Int64
    /// On SIGTERM, how long running attempts may take to finish before they are stopped
    /// and handed back.
    public var shutdownTimeoutMs: Int64 = 30_000
    /// TLS to the coordinator, if configured.
    public var tls: GantryClient.TLS?

    public init(
        coordinators: [HostPort], nodeID: NodeID, token: Secret, labels: Labels = [:], cost: CostProfile = .free,
        engines: [EngineConfig], stateDir: String = "", maxFrameBytes: Int = defaultMaxFrameBytes,
        maxOutputBytes: Int = 1 << 20, software: String = "gantry-agent", probeIntervalMs: Int64 = 5000
    ) {
        self.coordinators = coordinators
        self.nodeID = nodeID
        self.token = token
        self.labels = labels
        self.cost = cost
        self.engines = engines
        self.stateDir = stateDir
        self.maxFrameBytes = maxFrameBytes
        self.maxOutputBytes = maxOutputBytes
        self.software = software
        self.probeIntervalMs = probeIntervalMs
    }
}
