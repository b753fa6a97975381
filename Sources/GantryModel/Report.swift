/// A cost and usage report row; `Report.total` has the same shape.
///
/// Money is integer micro-dollars and energy integer millijoules, so rows add up exactly.
public struct ReportRow: Hashable, Sendable {
    public var key: String
    /// Attempts that ended in the window.
    public var attempts: Int64
    public var promptTokens: Int64
    public var completionTokens: Int64
    /// Time with at least one slot held (for nodes and pools), or the rows' shares of it.
    public var busyMs: Int64
    /// Time with no slot held; only nodes and pools have idle time.
    public var idleMs: Int64
    /// Everything: the receipts of attempts that ended in the window plus idle cost.
    public var spendMicroUSD: Int64
    public var idleMicroUSD: Int64
    public var energyMillijoules: Int64
    /// True only if every energy figure in the row was measured.
    public var energyMeasured: Bool
    /// The window's length, for tokens per second.
    public var windowMs: Int64
    /// Tokens the rows' engines generated that no receipt accounts for: another client used
    /// them (engine telemetry; for nodes and pools).
    public var outsideTokens: Int64 = 0

    public init(
        key: String, attempts: Int64 = 0, promptTokens: Int64 = 0, completionTokens: Int64 = 0, busyMs: Int64 = 0,
        idleMs: Int64 = 0, spendMicroUSD: Int64 = 0, idleMicroUSD: Int64 = 0, energyMillijoules: Int64 = 0,
        energyMeasured: Bool = false, windowMs: Int64 = 0
    ) {
        self.key = key
        self.attempts = attempts
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.busyMs = busyMs
        self.idleMs = idleMs
        self.spendMicroUSD = spendMicroUSD
        self.idleMicroUSD = idleMicroUSD
        self.energyMillijoules = energyMillijoules
        self.energyMeasured = energyMeasured
        self.windowMs = windowMs
    }

    public var tokens: Int64 { promptTokens + completionTokens }
    public var utilization: Double { busyMs + idleMs == 0 ? 0 : Double(busyMs) / Double(busyMs + idleMs) }
    /// Dollars per million tokens, all spend (idle included) over tokens. Micro-dollars
    /// per token are dollars per million tokens.
    public var usdPerMTokAllocation: Double { tokens == 0 ? 0 : Double(spendMicroUSD) / Double(tokens) }
    /// Dollars per million tokens, busy spend only.
    public var usdPerMTokUsage: Double { tokens == 0 ? 0 : Double(spendMicroUSD - idleMicroUSD) / Double(tokens) }
    public var joulesPerToken: Double { tokens == 0 ? 0 : Double(energyMillijoules) / 1000 / Double(tokens) }
    /// Completion tokens per second of busy time: throughput while working.
    public var tokensPerSecond: Double { busyMs <= 0 ? 0 : Double(completionTokens) * 1000 / Double(busyMs) }

    /// Adds another row's figures (for totals).
    public mutating func add(_ other: ReportRow) {
        attempts += other.attempts
        promptTokens += other.promptTokens
        completionTokens += other.completionTokens
        busyMs += other.busyMs
        idleMs += other.idleMs
        spendMicroUSD += other.spendMicroUSD
        idleMicroUSD += other.idleMicroUSD
        energyMillijoules += other.energyMillijoules
        outsideTokens += other.outsideTokens
    }
}

public struct Report: Hashable, Sendable {
    public var by: ReportQuery.GroupBy
    public var from: Timestamp
    public var to: Timestamp
    public var rows: [ReportRow]
    /// The whole window's total, on every page.
    public var total: ReportRow
    /// When more rows follow: the last key of this page, to ask for the rows after it.
    public var next: String?

    public init(by: ReportQuery.GroupBy, from: Timestamp, to: Timestamp, rows: [ReportRow], total: ReportRow, next: String? = nil) {
        self.by = by
        self.from = from
        self.to = to
        self.rows = rows
        self.total = total
        self.next = next
    }

    /// This page followed by every later one, asked for with `fetch` over this page's window
    /// (an open end would move between pages).
    public func withLaterPages(_ fetch: (ReportQuery) async throws -> Report) async rethrows -> Report {
        var all = self
        while let after = all.next {
            let page = try await fetch(ReportQuery(by: by, from: from, to: to, after: after))
            all.rows += page.rows
            all.next = page.next
        }
        return all
    }

    /// The rows after `after` (rows are in key order), as many as fit one page (`limit`;
    /// 0: the server's page size); `next` is set when more follow.
    public func page(after: String?, limit: Int) -> Report {
        let rest = after.map { a in rows.drop { $0.key <= a } } ?? rows[...]
        let n = Paging.fitting(rest, limit: limit <= 0 ? Paging.maxItems : limit, size: { $0.key.utf8.count + 160 })
        var page = self
        page.rows = Array(rest.prefix(n))
        page.next = n < rest.count ? page.rows.last?.key : nil
        return page
    }
}
