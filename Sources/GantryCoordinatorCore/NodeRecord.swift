import GantryAccounting
import GantryModel
import GantryPlacement

/// Everything the coordinator knows about one node.
struct NodeRecord: Sendable {
    var id: NodeID
    var session: SessionID? { didSet { refreshPlacement() } }
    var address: String
    var labels: Labels { didSet { refreshPlacement() } }
    var inventory: Inventory
    var cost: CostProfile
    var software: String
    /// As the agent last reported them (static shape, health, the agent's own slot use).
    var engines: [EngineStatus] { didSet { refreshPlacement() } }
    var stats: HostStats
    var connectedAt: Timestamp
    var lastHeartbeat: Timestamp
    var cordoned = false { didSet { refreshPlacement() } }
    /// The agent wants its heartbeats acknowledged.
    var heartbeatAcks = false
    var draining = false { didSet { refreshPlacement() } }
    var lost = false { didSet { refreshPlacement() } }
    /// Attempts assigned to or running on this node, with their engine: the coordinator's
    /// own slot accounting (assumed + confirmed). Changed only by `hold` and `release`.
    private(set) var active: [AttemptRef: String] = [:]
    /// The profile in force (the agent's, or an override from the coordinator's config).
    var effectiveCost: CostProfile { didSet { refreshPlacement() } }
    /// Time-based cost shared among slot holders, and idle cost.
    var meter: NodeCostMeter
    var lastIdleFlush: Timestamp
    /// The agent's idle-energy counter at the previous heartbeat of this session.
    var idleEnergyBaseline: UInt64?
    /// Completion tokens per second per sequence, by engine, learned from results.
    var observedTPS: [String: Double] = [:] {
        didSet {
            for i in placement.engines.indices { placement.engines[i].tokensPerSecond = observedTPS[placement.engines[i].name] ?? 0 }
        }
    }
    /// Completion tokens Gantry accounts to each engine: its receipts, and what attempts
    /// that ended without one (lost, taken back) had reported.
    var accountedTokens: [String: Int64] = [:]
    /// Each engine's own token counter against `accountedTokens` (engine telemetry), the
    /// scrape last sampled, and whether a drift warning is in force.
    var drift: [String: TokenDrift] = [:]
    var driftSampledAt: [String: Timestamp] = [:]
    var driftWarned: Set<String> = []
    /// The node as placement sees it, kept current by every change above, so a decision
    /// reads it without building anything. A disconnected node is never a candidate.
    private(set) var placement: PlacementNode { didSet { placementVersion &+= 1 } }
    /// Bumped by every change to `placement`, so that the node table copies the view only
    /// when it changed (most changes, such as a meter's, do not touch it).
    private(set) var placementVersion: UInt64 = 0

    var pool: String { labels["pool"] ?? "" }

    /// Whether an engine reported a token counter scraped since the node's token drift was
    /// last sampled (`sampleTokenDrift`).
    var driftDue: Bool {
        engines.contains { e in
            guard let t = e.telemetry, t.generationTokens != nil, let at = t.scrapedAt else { return false }
            return at > (driftSampledAt[e.name] ?? .zero)
        }
    }

    init(registration: Registration, session: SessionID, address: String, now: Timestamp, cost: CostProfile? = nil) {
        self.id = registration.nodeID
        self.session = session
        self.address = address
        self.labels = registration.labels
        self.inventory = registration.inventory
        self.cost = registration.cost
        self.software = registration.software
        self.engines = registration.engines
        self.stats = HostStats()
        self.connectedAt = now
        self.lastHeartbeat = now
        self.effectiveCost = cost ?? registration.cost
        self.meter = NodeCostMeter(node: registration.nodeID, pool: registration.labels["pool"] ?? "", rates: CostRates(cost ?? registration.cost), now: now)
        self.lastIdleFlush = now
        self.placement = PlacementNode(id: registration.nodeID, state: .ready, engines: [])
        refreshPlacement()
    }

    /// Takes a slot on `engine` for an attempt (assigned or found running).
    mutating func hold(_ ref: AttemptRef, engine: String) {
        guard active.updateValue(engine, forKey: ref) == nil else { return }
        adjustUsed(engine, by: 1)
    }

    /// Frees an attempt's slot; false if it held none here.
    @discardableResult
    mutating func release(_ ref: AttemptRef) -> Bool {
        guard let engine = active.removeValue(forKey: ref) else { return false }
        adjustUsed(engine, by: -1)
        return true
    }

    private mutating func adjustUsed(_ engine: String, by delta: Int) {
        if let i = placement.engines.firstIndex(where: { $0.name == engine }) { placement.engines[i].used += delta }
        placement.state = state
    }

    mutating func refreshPlacement() {
        var usedBy: [String: Int] = [:]
        for e in active.values { usedBy[e, default: 0] += 1 }
        placement = PlacementNode(
            id: id,
            state: state,
            connected: session != nil,
            labels: labels,
            engines: engines.map {
                PlacementEngine(
                    name: $0.name, models: $0.models, slots: $0.slots, used: usedBy[$0.name] ?? 0,
                    healthy: $0.healthy, tokensPerSecond: observedTPS[$0.name] ?? 0,
                    outside: $0.telemetry?.outside ?? 0, waiting: $0.telemetry?.waiting, kvUsage: $0.telemetry?.kvUsage)
            },
            costMicroUSDPerHour: costPerHourBusy
        )
    }

    var state: NodeState {
        if lost { return .lost }
        if draining { return active.isEmpty ? .drained : .draining }
        if cordoned { return .cordoned }
        return .ready
    }

    func used(_ engine: String) -> Int {
        active.values.reduce(0) { $0 + ($1 == engine ? 1 : 0) }
    }

    /// The node's $/h now: depreciation and overhead, plus energy at its current occupancy.
    var costPerHourNow: Int64 {
        let total = engines.reduce(0) { $0 + $1.slots }
        return CostRates(effectiveCost).estimatedMicroUSDPerHour(busyFraction: total == 0 ? 0 : Double(active.count) / Double(total))
    }

    /// The $/h of running flat out: the marginal cost a job adds, for the cost scorer.
    var costPerHourBusy: Int64 { CostRates(effectiveCost).estimatedMicroUSDPerHour(busyFraction: 1) }

    func info(costMicroUSDPerHour: Int64) -> NodeInfo {
        var usedBy: [String: Int] = [:]
        for e in active.values { usedBy[e, default: 0] += 1 }
        return NodeInfo(
            id: id, state: state, labels: labels, inventory: inventory,
            engines: engines.map { e in
                var e = e
                e.slotsUsed = usedBy[e.name] ?? 0
                return e
            },
            cost: effectiveCost, costMicroUSDPerHour: costMicroUSDPerHour, lastHeartbeat: lastHeartbeat,
            connectedAt: session == nil ? nil : connectedAt, address: address, cordoned: cordoned,
            draining: draining, runningAttempts: active.count
        )
    }
}
