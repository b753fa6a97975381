import GantryAccounting
import GantryModel
import Metrics

/// The coordinator's metrics, declared in one place (swift-metrics; gantryd exports them in
/// the Prometheus format on `/metrics`). Libraries never bootstrap a metrics backend; without
/// one these are no-ops.
struct CoordinatorMetrics {
    /// Running totals per node since gantryd started, for the $/Mtok gauges.
    private var spend: [NodeID: (total: Int64, idle: Int64, tokens: Int64)] = [:]
    private let queueDepth = Gauge(label: "gantry_queue_depth")
    private let placement = Metrics.Timer(label: "gantry_placement_seconds")
    /// Handles made once per series and kept: making one looks it up in the backend's
    /// registry (a lock, the name checked, the labels hashed), eight times per finished job
    /// when they were made at each use. A node's series are made at first use, so each
    /// appears once it has something to say.
    private var tokenCounters: [TokenSeries: (prompt: Counter, completion: Counter)] = [:]
    private var nodeCounters: [NodeSeries: FloatingPointCounter] = [:]
    private var nodeGauges: [NodeSeries: Gauge] = [:]

    private struct TokenSeries: Hashable {
        var node: NodeID
        var model: String
        var tenant: String
    }

    /// One of a node's spend, energy or cost series, by the value of its second label.
    private struct NodeSeries: Hashable {
        var node: NodeID
        var name: String
    }

    private static func cached<Key, Handle>(_ cache: inout [Key: Handle], _ key: Key, make: () -> Handle) -> Handle {
        if let made = cache[key] { return made }
        let made = make()
        cache[key] = made
        return made
    }

    mutating func billed(_ e: LedgerEntry) {
        let tokens = Self.cached(&tokenCounters, TokenSeries(node: e.node, model: e.model, tenant: e.tenant)) {
            let dims = [("node", e.node.rawValue), ("model", e.model), ("tenant", e.tenant)]
            return (Counter(label: "gantry_tokens_total", dimensions: dims + [("kind", "prompt")]),
                    Counter(label: "gantry_tokens_total", dimensions: dims + [("kind", "completion")]))
        }
        tokens.prompt.increment(by: e.promptTokens)
        tokens.completion.increment(by: e.completionTokens)
        let r = e.receipt
        addSpend(node: e.node, depreciation: r.depreciationMicroUSD, energy: r.energyMicroUSD, overhead: r.overheadMicroUSD)
        addEnergy(node: e.node, millijoules: r.energyMillijoules, measured: r.energyMeasured)
        var t = spend[e.node] ?? (0, 0, 0)
        t.total += r.totalMicroUSD
        t.tokens += Int64(e.promptTokens + e.completionTokens)
        spend[e.node] = t
        updateCostGauges(e.node)
    }

    mutating func idle(_ i: IdleAccrual) {
        addSpend(node: i.node, depreciation: i.depreciationMicroUSD, energy: i.energyMicroUSD, overhead: i.overheadMicroUSD)
        addEnergy(node: i.node, millijoules: i.energyMillijoules, measured: i.energyMeasured)
        var t = spend[i.node] ?? (0, 0, 0)
        t.total += i.totalMicroUSD
        t.idle += i.totalMicroUSD
        spend[i.node] = t
        updateCostGauges(i.node)
    }

    private mutating func addSpend(node: NodeID, depreciation: Int64, energy: Int64, overhead: Int64) {
        for (component, micro) in [("depreciation", depreciation), ("energy", energy), ("overhead", overhead)] where micro > 0 {
            Self.cached(&nodeCounters, NodeSeries(node: node, name: component)) {
                FloatingPointCounter(label: "gantry_spend_usd_total", dimensions: [("node", node.rawValue), ("component", component)])
            }.increment(by: Double(micro) / 1_000_000)
        }
    }

    private mutating func addEnergy(node: NodeID, millijoules: Int64, measured: Bool) {
        guard millijoules > 0 else { return }
        let source = measured ? "measured" : "estimated"
        Self.cached(&nodeCounters, NodeSeries(node: node, name: source)) {
            FloatingPointCounter(label: "gantry_energy_joules_total", dimensions: [("node", node.rawValue), ("source", source)])
        }.increment(by: Double(millijoules) / 1000)
    }

    private mutating func updateCostGauges(_ node: NodeID) {
        guard let t = spend[node], t.tokens > 0 else { return }
        for (basis, cost) in [("allocation", t.total), ("usage", t.total - t.idle)] {
            Self.cached(&nodeGauges, NodeSeries(node: node, name: basis)) {
                Gauge(label: "gantry_cost_per_million_tokens", dimensions: [("node", node.rawValue), ("basis", basis)])
            }.record(Double(cost) / Double(t.tokens))
        }
    }

    /// Point-in-time gauges, refreshed before each scrape.
    func refresh(status: ClusterStatus, nodes: [NodeInfo], drift: [(engine: EngineRef, reading: TokenDrift.Reading)]) {
        for node in nodes {
            for engine in node.engines {
                let dims = [("node", node.id.rawValue), ("engine", engine.name)]
                guard let t = engine.telemetry else { continue }
                if let running = t.running { Gauge(label: "gantry_engine_requests", dimensions: dims + [("state", "running")]).record(running) }
                if let waiting = t.waiting { Gauge(label: "gantry_engine_requests", dimensions: dims + [("state", "waiting")]).record(waiting) }
                if let kv = t.kvUsage { Gauge(label: "gantry_engine_kv_usage", dimensions: dims).record(kv) }
            }
        }
        for (engine, reading) in drift {
            Gauge(label: "gantry_engine_token_drift_ratio", dimensions: [("node", engine.node.rawValue), ("engine", engine.engine)])
                .record(reading.ratio)
        }
        queueDepth.record(status.queueDepth)
        for state in JobState.allCases {
            Gauge(label: "gantry_jobs", dimensions: [("state", state.rawValue)]).record(status.jobs[state] ?? 0)
        }
        for state in NodeState.allCases {
            Gauge(label: "gantry_nodes", dimensions: [("state", state.rawValue)]).record(status.nodes[state] ?? 0)
        }
        for node in nodes {
            let slots = node.engines.reduce(0) { $0 + ($1.healthy ? $1.slots : 0) }
            Gauge(label: "gantry_node_utilization", dimensions: [("node", node.id.rawValue)])
                .record(slots == 0 ? 0 : Double(node.runningAttempts) / Double(slots))
        }
        Gauge(label: "gantry_tokens_per_second").record(status.tokensPerSecond)
    }

    func placed(seconds: Double) {
        placement.recordNanoseconds(Int64(seconds * 1e9))
    }

    static func handshakeFailed(code: ErrorCode) {
        Counter(label: "gantry_handshake_failures_total", dimensions: [("code", code.name)]).increment()
    }
}

/// High availability's metrics (a PostgreSQL store with standbys).
public enum LeadershipMetrics {
    /// `gantry_leader{instance}`: 1 on the leader, 0 on a standby.
    public static func leadership(instance: String, leader: Bool) {
        Gauge(label: "gantry_leader", dimensions: [("instance", instance)]).record(leader ? 1 : 0)
    }

    /// `gantry_failovers_total`: times this gantryd took the lease from another holder.
    public static func tookOver() {
        Counter(label: "gantry_failovers_total").increment()
    }

}
