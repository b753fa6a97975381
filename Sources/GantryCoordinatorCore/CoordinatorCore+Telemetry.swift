public import GantryAccounting
public import GantryModel

extension CoordinatorCore {
    /// The share of an engine's tokens no receipt accounts for, above which the log warns.
    static let driftWarning = 0.01
    /// Tokens a window must hold before its drift is judged (a few stray tokens are noise).
    static let driftMinimumTokens: Int64 = 200

    /// A heartbeat's engine telemetry: samples each engine's token counter, with a new
    /// scrape, against what Gantry accounts to the engine now.
    mutating func sampleTokenDrift(_ id: NodeID, now: Timestamp) {
        guard var node = nodes[id] else { return }
        for engine in node.engines {
            guard let t = engine.telemetry, let generated = t.generationTokens, let scrapedAt = t.scrapedAt,
                scrapedAt > (node.driftSampledAt[engine.name] ?? .zero)
            else { continue }
            node.driftSampledAt[engine.name] = scrapedAt
            let accounted = node.accountedTokens[engine.name, default: 0] + inflightTokens(on: node, engine: engine.name)
            guard let reading = node.drift[engine.name, default: TokenDrift()]
                .observe(engine: generated, gantry: accounted, at: now, windowMs: settings.driftWindowMs)
            else { continue }
            let judged = reading.covered && max(reading.engineTokens, reading.gantryTokens) >= Self.driftMinimumTokens
            let over = judged && abs(reading.ratio) > Self.driftWarning
            if over, node.driftWarned.insert(engine.name).inserted {
                pendingNotices.append(.tokenDrift(EngineRef(node: id, engine: engine.name), reading, over: true))
            } else if judged, !over, node.driftWarned.remove(engine.name) != nil {
                pendingNotices.append(.tokenDrift(EngineRef(node: id, engine: engine.name), reading, over: false))
            }
        }
        nodes[id] = node
    }

    /// Completion tokens that attempts running on the engine have reported so far.
    func inflightTokens(on node: NodeRecord, engine: String) -> Int64 {
        var n: Int64 = 0
        for (ref, e) in node.active where e == engine {
            if let record = jobs[ref.job], record.job.attempts.last?.number == ref.attempt { n += Int64(record.job.usage.completionTokens) }
        }
        return n
    }

    /// Each engine's latest cross-check reading, for `/metrics`.
    public func tokenDrift() -> [(engine: EngineRef, reading: TokenDrift.Reading)] {
        nodes.values.flatMap { node in
            node.drift.compactMap { name, drift in drift.last.map { (EngineRef(node: node.id, engine: name), $0) } }
        }
    }
}
