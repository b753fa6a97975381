public import GantryModel
import GRDB

extension Store {
    /// Cost and usage grouped by node, pool, model or tenant over [from, to): the receipts of
    /// attempts that ended in the window, plus idle cost accrued in it. Idle cost belongs to
    /// nodes; grouped by model or tenant it appears as its own row, "(idle)", so the total is
    /// the same whichever grouping is asked for.
    public func report(by: ReportQuery.GroupBy, from: Timestamp, to: Timestamp) throws -> Report {
        try pool.read { db in try Self.report(db, by: by, from: from, to: to) }
    }

    static func report(_ db: Database, by: ReportQuery.GroupBy, from: Timestamp, to: Timestamp) throws -> Report {
        let column: String
        switch by {
        case .node: column = "node"
        case .pool: column = "pool"
        case .model: column = "model"
        case .tenant: column = "tenant"
        }
        // An open start means "since the first record".
        var from = from
        if from.unixMillis == 0 {
            let first = try Int64.fetchOne(db, sql: "SELECT min(t) FROM (SELECT min(started_at) AS t FROM ledger UNION ALL SELECT min(started_at) FROM idle)")
            if let first { from = Timestamp(unixMillis: first) }
        }
        let window = to - from
        var rows: [String: ReportRow] = [:]
        let receipts = try Row.fetchAll(db, sql: """
            SELECT \(column) AS key, count(*) AS attempts, sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion,
                sum(busy_us) AS busy_us, sum(energy_mj) AS energy, min(energy_measured) AS measured,
                sum(depreciation_uusd + energy_uusd + overhead_uusd) AS spend
            FROM ledger WHERE finished_at >= ? AND finished_at < ? GROUP BY \(column)
            """, arguments: [from.unixMillis, to.unixMillis])
        for r in receipts {
            let key = Self.label(r["key"])
            rows[key] = ReportRow(
                key: key, attempts: r["attempts"], promptTokens: r["prompt"], completionTokens: r["completion"],
                busyMs: (r["busy_us"] as Int64) / 1000, spendMicroUSD: r["spend"], energyMillijoules: r["energy"],
                energyMeasured: r["measured"], windowMs: window)
        }
        let idleKey = (by == .node || by == .pool) ? column : "'(idle)'"
        let idle = try Row.fetchAll(db, sql: """
            SELECT \(idleKey) AS key, sum(idle_ms) AS idle_ms, sum(energy_mj) AS energy, min(energy_measured) AS measured,
                sum(depreciation_uusd + energy_uusd + overhead_uusd) AS spend, sum(outside_tokens) AS outside
            FROM idle WHERE ended_at >= ? AND ended_at < ? GROUP BY \(idleKey)
            """, arguments: [from.unixMillis, to.unixMillis])
        for r in idle {
            let key = Self.label(r["key"])
            var row = rows[key] ?? ReportRow(key: key, energyMeasured: true, windowMs: window)
            let spend: Int64 = r["spend"]
            row.idleMs += r["idle_ms"]
            if by == .node || by == .pool { row.outsideTokens += r["outside"] }
            row.idleMicroUSD += spend
            row.spendMicroUSD += spend
            row.energyMillijoules += r["energy"]
            row.energyMeasured = row.energyMeasured && (r["measured"] as Bool)
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

    public func idleAccruals() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM idle") ?? 0 }
    }
}
