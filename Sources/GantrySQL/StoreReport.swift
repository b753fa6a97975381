public import GantryModel

/// Cost and usage grouped by node, pool, model or tenant over [from, to): the receipts of
/// attempts that ended in the window, plus idle cost accrued in it. Idle cost belongs to
/// nodes; grouped by model or tenant it appears as its own row, "(idle)", so the total is
/// the same whichever grouping is asked for.
public enum StoreReport {
    /// When the first record starts (for a report with an open start).
    public static let firstRecord = SQLStatement(
        "SELECT min(t) FROM (SELECT min(started_at) AS t FROM ledger UNION ALL SELECT min(started_at) AS t FROM idle) AS firsts")

    static func column(_ by: ReportQuery.GroupBy) -> String {
        switch by {
        case .node: "node"
        case .pool: "pool"
        case .model: "model"
        case .tenant: "tenant"
        }
    }

    /// key, attempts, prompt, completion, busy µs, energy, measured (min), spend.
    public static func receipts(by: ReportQuery.GroupBy, from: Timestamp, to: Timestamp) -> SQLStatement {
        let c = column(by)
        return SQLStatement("""
            SELECT \(c), count(*), CAST(sum(prompt_tokens) AS BIGINT), CAST(sum(completion_tokens) AS BIGINT), CAST(sum(busy_us) AS BIGINT),
                CAST(sum(energy_mj) AS BIGINT), min(energy_measured), CAST(sum(depreciation_uusd + energy_uusd + overhead_uusd) AS BIGINT)
            FROM ledger WHERE finished_at >= ? AND finished_at < ? GROUP BY \(c)
            """, [.integer(from.unixMillis), .integer(to.unixMillis)])
    }

    /// key, idle ms, energy, measured (min), spend, outside tokens.
    public static func idle(by: ReportQuery.GroupBy, from: Timestamp, to: Timestamp) -> SQLStatement {
        let key = (by == .node || by == .pool) ? column(by) : "'(idle)'"
        return SQLStatement("""
            SELECT \(key), CAST(sum(idle_ms) AS BIGINT), CAST(sum(energy_mj) AS BIGINT), min(energy_measured),
                CAST(sum(depreciation_uusd + energy_uusd + overhead_uusd) AS BIGINT), CAST(sum(outside_tokens) AS BIGINT)
            FROM idle WHERE ended_at >= ? AND ended_at < ? GROUP BY 1
            """, [.integer(from.unixMillis), .integer(to.unixMillis)])
    }

    /// The report from the rows of `receipts` and `idle`.
    public static func assemble(
        by: ReportQuery.GroupBy, from: Timestamp, to: Timestamp, receipts: [some SQLRow], idle: [some SQLRow]
    ) -> Report {
        let window = to - from
        var rows: [String: ReportRow] = [:]
        for r in receipts {
            let key = label(r.stringOrNil(0))
            rows[key] = ReportRow(
                key: key, attempts: r.int64(1), promptTokens: r.int64(2), completionTokens: r.int64(3), busyMs: r.int64(4) / 1000,
                spendMicroUSD: r.int64(7), energyMillijoules: r.int64(5), energyMeasured: r.bool(6), windowMs: window)
        }
        for r in idle {
            let key = label(r.stringOrNil(0))
            var row = rows[key] ?? ReportRow(key: key, energyMeasured: true, windowMs: window)
            let spend = r.int64(4)
            row.idleMs += r.int64(1)
            row.idleMicroUSD += spend
            row.spendMicroUSD += spend
            row.energyMillijoules += r.int64(2)
            row.energyMeasured = row.energyMeasured && r.bool(3)
            if by == .node || by == .pool { row.outsideTokens += r.int64(5) }
            rows[key] = row
        }
        let sorted = rows.values.sorted { $0.key < $1.key }
        var total = ReportRow(key: "total", energyMeasured: !sorted.isEmpty && sorted.allSatisfy(\.energyMeasured), windowMs: window)
        for row in sorted { total.add(row) }
        return Report(by: by, from: from, to: to, rows: sorted, total: total)
    }

    static func label(_ value: String?) -> String {
        guard let value, !value.isEmpty else { return "(none)" }
        return value
    }
}
