public import GantryModel

/// Cross-checks one engine's own generation-token counter against the completion tokens
/// Gantry accounts to it (receipts, plus what running attempts have reported so far).
///
/// Over a window (default 5 minutes) the two should move together; when the engine
/// produced more, someone else uses it (its time is not paid by Gantry's jobs); when it
/// produced less, Gantry's accounting is wrong. Samples are taken at heartbeats, so both
/// ends of the window carry the same small skew (tokens generated between the scrape and
/// the heartbeat), which cancels in the difference.
public struct TokenDrift: Hashable, Sendable {
    public struct Reading: Hashable, Sendable {
        /// Tokens over the window: the engine's count and Gantry's.
        public var engineTokens: Int64
        public var gantryTokens: Int64
        /// (engine − Gantry) / engine: the share of the engine's tokens that no receipt
        /// accounts for (negative: Gantry accounts for more than the engine made).
        public var ratio: Double
        /// Whether the samples span the whole window (a shorter span is a first estimate).
        public var covered: Bool
    }

    struct Sample: Hashable, Sendable {
        var at: Timestamp
        var engine: UInt64
        var gantry: Int64
    }

    private var samples: [Sample] = []
    /// Engine tokens minus Gantry's since the last `takeOutside`, carried while negative.
    private var unclaimed: Int64 = 0
    public private(set) var last: Reading?

    public init() {}

    /// Adds a sample: the engine's counter (monotonic for as long as the agent runs) and
    /// Gantry's count for the engine, at `now`. Returns the reading over `windowMs`.
    @discardableResult
    public mutating func observe(engine: UInt64, gantry: Int64, at now: Timestamp, windowMs: Int64) -> Reading? {
        if let previous = samples.last {
            // A counter that went down: the agent restarted and counts afresh.
            if engine < previous.engine || gantry < previous.gantry {
                samples.removeAll()
            } else {
                unclaimed += Int64(clamping: engine - previous.engine) - (gantry - previous.gantry)
            }
        }
        samples.append(Sample(at: now, engine: engine, gantry: gantry))
        // Keep the newest sample at least `windowMs` old as the window's start.
        while samples.count > 2, now - samples[1].at >= windowMs { samples.removeFirst() }
        guard let first = samples.first, samples.count > 1 else { return nil }
        let e = Int64(clamping: engine - first.engine)
        let g = gantry - first.gantry
        let ratio = e > 0 ? Double(e - g) / Double(e) : (g > 0 ? -1 : 0)
        last = Reading(engineTokens: e, gantryTokens: g, ratio: ratio, covered: now - first.at >= windowMs)
        return last
    }

    /// Tokens the engine made beyond Gantry's since the last call (for the report's
    /// "outside" column). A shortfall is carried to later calls, so skew between samples
    /// cancels over time instead of being counted.
    public mutating func takeOutside() -> Int64 {
        guard unclaimed > 0 else { return 0 }
        defer { unclaimed = 0 }
        return unclaimed
    }
}
