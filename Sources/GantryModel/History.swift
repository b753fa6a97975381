/// The dashboard's history: per-minute rollups of the ledger and idle cost, summed into
/// buckets of whole minutes.
///
/// A rollup row is keyed by the minute its records ended in (a receipt's `finished_at`, an
/// idle accrual's `ended_at`), so the sum over whole minutes [a, b) equals `report` over
/// the same window, to the micro-dollar.
public struct HistoryQuery: Hashable, Sendable {
    public var by: ReportQuery.GroupBy
    /// Whole minutes: [from, to).
    public var from: Timestamp
    public var to: Timestamp
    /// Minutes per bucket (≥ 1).
    public var stepMinutes: Int64
    /// Only this node, pool, model or tenant.
    public var key: String?

    public init(by: ReportQuery.GroupBy, from: Timestamp, to: Timestamp, stepMinutes: Int64 = 1, key: String? = nil) {
        self.by = by
        self.from = from
        self.to = to
        self.stepMinutes = max(1, stepMinutes)
        self.key = key
    }

    public static let minuteMs: Int64 = 60_000

    /// The minute a time falls in.
    public static func minute(_ t: Timestamp) -> Int64 { t.unixMillis >= 0 ? t.unixMillis / minuteMs : (t.unixMillis - minuteMs + 1) / minuteMs }
}

/// One bucket's (or a window's) figures: the report's row, with spend split by component
/// and attempts by outcome.
public struct HistoryRow: Hashable, Sendable {
    public var report: ReportRow
    public var depreciationMicroUSD: Int64 = 0
    public var energyMicroUSD: Int64 = 0
    public var overheadMicroUSD: Int64 = 0
    public var succeeded: Int64 = 0
    public var failed: Int64 = 0
    public var cancelled: Int64 = 0

    public init(key: String, windowMs: Int64) {
        report = ReportRow(key: key, energyMeasured: true, windowMs: windowMs)
    }

    public mutating func add(_ other: HistoryRow) {
        report.add(other.report)
        report.energyMeasured = report.energyMeasured && other.report.energyMeasured
        depreciationMicroUSD += other.depreciationMicroUSD
        energyMicroUSD += other.energyMicroUSD
        overheadMicroUSD += other.overheadMicroUSD
        succeeded += other.succeeded
        failed += other.failed
        cancelled += other.cancelled
    }
}

public struct HistoryPoint: Hashable, Sendable {
    /// The bucket's first minute.
    public var start: Timestamp
    public var row: HistoryRow

    public init(start: Timestamp, row: HistoryRow) {
        self.start = start
        self.row = row
    }
}

public struct HistorySeries: Hashable, Sendable {
    public var key: String
    /// Buckets with records, oldest first (a missing bucket had none).
    public var points: [HistoryPoint]

    public init(key: String, points: [HistoryPoint]) {
        self.key = key
        self.points = points
    }
}

public struct History: Hashable, Sendable {
    public var query: HistoryQuery
    public var series: [HistorySeries]
    /// Each key's sum over the window, and the window's total.
    public var totals: [HistoryRow]
    public var total: HistoryRow

    public init(query: HistoryQuery, series: [HistorySeries], totals: [HistoryRow], total: HistoryRow) {
        self.query = query
        self.series = series
        self.totals = totals
        self.total = total
    }
}
