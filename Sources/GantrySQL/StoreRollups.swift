import GantryAccounting
public import GantryModel

/// Per-minute rollups of receipts and idle cost, for the dashboard's history: written in
/// the same transaction as the ledger and idle rows they sum, so they never disagree with
/// `report`, and kept after `history.retention` no longer.
///
/// A row is keyed by (minute, node, pool, model, tenant); idle cost has model and tenant
/// "(idle)", as `report` shows it grouped by model or tenant.
public enum StoreRollups {
    struct Key: Hashable {
        var minute: Int64
        var node: String
        var pool: String
        var model: String
        var tenant: String
    }

    struct Sums {
        var attempts: Int64 = 0
        var succeeded: Int64 = 0
        var failed: Int64 = 0
        var cancelled: Int64 = 0
        var promptTokens: Int64 = 0
        var completionTokens: Int64 = 0
        var busyMicros: Int64 = 0
        var idleMs: Int64 = 0
        var energyMillijoules: Int64 = 0
        /// Records whose energy was estimated rather than measured.
        var unmeasured: Int64 = 0
        var depreciation: Int64 = 0
        var energy: Int64 = 0
        var overhead: Int64 = 0
        var idle: Int64 = 0
        var outsideTokens: Int64 = 0

        var values: [SQLValue] {
            [attempts, succeeded, failed, cancelled, promptTokens, completionTokens, busyMicros, idleMs, energyMillijoules,
             unmeasured, depreciation, energy, overhead, idle, outsideTokens].map { SQLValue($0) }
        }
    }

    public static let idleLabel = "(idle)"
    static let sumColumns = [
        "attempts", "succeeded", "failed", "cancelled", "prompt_tokens", "completion_tokens", "busy_us", "idle_ms", "energy_mj",
        "unmeasured", "depreciation_uusd", "energy_uusd", "overhead_uusd", "idle_uusd", "outside_tokens",
    ]

    /// The upsert that adds a batch's receipts and idle accruals to their minutes (one row
    /// per key: PostgreSQL refuses to update a row twice in one statement).
    static func upsert(ledger: [LedgerEntry], idle: [IdleAccrual]) -> SQLInsert? {
        var sums: [Key: Sums] = [:]
        var order: [Key] = []
        func add(_ key: Key, _ body: (inout Sums) -> Void) {
            if sums[key] == nil { order.append(key) }
            body(&sums[key, default: Sums()])
        }
        for e in ledger {
            let r = e.receipt
            add(Key(minute: HistoryQuery.minute(e.finishedAt), node: e.node.rawValue, pool: e.pool, model: e.model, tenant: e.tenant)) { s in
                s.attempts += 1
                switch e.outcome {
                case .succeeded: s.succeeded += 1
                case .failed: s.failed += 1
                case .cancelled: s.cancelled += 1
                }
                s.promptTokens += Int64(e.promptTokens)
                s.completionTokens += Int64(e.completionTokens)
                s.busyMicros += r.busyMicros
                s.energyMillijoules += r.energyMillijoules
                s.unmeasured += r.energyMeasured ? 0 : 1
                s.depreciation += r.depreciationMicroUSD
                s.energy += r.energyMicroUSD
                s.overhead += r.overheadMicroUSD
            }
        }
        for i in idle {
            add(Key(minute: HistoryQuery.minute(i.to), node: i.node.rawValue, pool: i.pool, model: idleLabel, tenant: idleLabel)) { s in
                s.idleMs += i.idleMs
                s.energyMillijoules += i.energyMillijoules
                s.unmeasured += i.energyMeasured ? 0 : 1
                s.depreciation += i.depreciationMicroUSD
                s.energy += i.energyMicroUSD
                s.overhead += i.overheadMicroUSD
                s.idle += i.totalMicroUSD
                s.outsideTokens += i.outsideTokens
            }
        }
        guard !order.isEmpty else { return nil }
        return SQLInsert(
            head: "INSERT INTO rollups (minute, node, pool, model, tenant, \(sumColumns.joined(separator: ", ")))",
            tail: "ON CONFLICT (minute, node, pool, model, tenant) DO UPDATE SET "
                + sumColumns.map { "\($0) = rollups.\($0) + excluded.\($0)" }.joined(separator: ", "),
            columns: 5 + sumColumns.count,
            rows: order.map { k in [SQLValue(k.minute), SQLValue(k.node), SQLValue(k.pool), SQLValue(k.model), SQLValue(k.tenant)] + sums[k]!.values })
    }

    /// The table, in both dialects (BIGINT is INTEGER to SQLite).
    public static let createTable =
        "CREATE TABLE rollups (minute BIGINT NOT NULL, node TEXT NOT NULL, pool TEXT NOT NULL, model TEXT NOT NULL, tenant TEXT NOT NULL, "
        + sumColumns.map { "\($0) BIGINT NOT NULL, " }.joined()
        + "PRIMARY KEY (minute, node, pool, model, tenant))"

    /// Fills the table from the ledger and idle rows already there (the migration that
    /// adds it).
    public static let backfill = """
        INSERT INTO rollups (minute, node, pool, model, tenant, \(sumColumns.joined(separator: ", ")))
        SELECT minute, node, pool, model, tenant, \(sumColumns.map { "CAST(sum(\($0)) AS BIGINT)" }.joined(separator: ", "))
        FROM (
            SELECT finished_at / 60000 AS minute, node, pool, model, tenant, 1 AS attempts,
                CASE WHEN outcome = 'succeeded' THEN 1 ELSE 0 END AS succeeded,
                CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END AS failed,
                CASE WHEN outcome = 'cancelled' THEN 1 ELSE 0 END AS cancelled,
                prompt_tokens, completion_tokens, busy_us, 0 AS idle_ms, energy_mj,
                CASE WHEN energy_measured = 0 THEN 1 ELSE 0 END AS unmeasured,
                depreciation_uusd, energy_uusd, overhead_uusd, 0 AS idle_uusd, 0 AS outside_tokens
            FROM ledger
            UNION ALL
            SELECT ended_at / 60000, node, pool, '\(idleLabel)', '\(idleLabel)', 0, 0, 0, 0, 0, 0, 0, idle_ms, energy_mj,
                CASE WHEN energy_measured = 0 THEN 1 ELSE 0 END,
                depreciation_uusd, energy_uusd, overhead_uusd, depreciation_uusd + energy_uusd + overhead_uusd, outside_tokens
            FROM idle
        ) AS records
        GROUP BY minute, node, pool, model, tenant
        """

    /// Drops the minutes before the cutoff.
    public static func prune(before cutoff: Timestamp) -> SQLStatement {
        SQLStatement("DELETE FROM rollups WHERE minute < ?", [.integer(HistoryQuery.minute(cutoff))])
    }

    /// bucket, key, then the sums in `sumColumns` order.
    public static func select(_ q: HistoryQuery) -> SQLStatement {
        let c = StoreReport.column(q.by)
        let step = q.stepMinutes
        var arguments: [SQLValue] = [.integer(HistoryQuery.minute(q.from)), .integer(HistoryQuery.minute(q.to))]
        var filter = ""
        if let key = q.key {
            filter = " AND \(c) = ?"
            arguments.append(.text(key))
        }
        return SQLStatement("""
            SELECT (minute / \(step)) * \(step) AS bucket, \(c), \(sumColumns.map { "CAST(sum(\($0)) AS BIGINT)" }.joined(separator: ", "))
            FROM rollups WHERE minute >= ? AND minute < ?\(filter)
            GROUP BY 1, 2 ORDER BY 1, 2
            """, arguments)
    }

    /// The history from `select`'s rows.
    public static func assemble(_ q: HistoryQuery, rows: [some SQLRow]) -> History {
        let bucketMs = q.stepMinutes * HistoryQuery.minuteMs
        var series: [String: [HistoryPoint]] = [:]
        var totals: [String: HistoryRow] = [:]
        var total = HistoryRow(key: "total", windowMs: q.to - q.from)
        for r in rows {
            let key = StoreReport.label(r.stringOrNil(1))
            var row = HistoryRow(key: key, windowMs: bucketMs)
            let v = (0..<sumColumns.count).map { r.int64(2 + $0) }
            row.report.attempts = v[0]
            row.succeeded = v[1]
            row.failed = v[2]
            row.cancelled = v[3]
            row.report.promptTokens = v[4]
            row.report.completionTokens = v[5]
            row.report.busyMs = v[6] / 1000
            row.report.idleMs = v[7]
            row.report.energyMillijoules = v[8]
            row.report.energyMeasured = v[9] == 0
            row.depreciationMicroUSD = v[10]
            row.energyMicroUSD = v[11]
            row.overheadMicroUSD = v[12]
            row.report.spendMicroUSD = v[10] + v[11] + v[12]
            row.report.idleMicroUSD = v[13]
            // As in `report`, outside tokens belong to nodes and pools.
            row.report.outsideTokens = (q.by == .node || q.by == .pool) ? v[14] : 0
            series[key, default: []].append(HistoryPoint(start: Timestamp(unixMillis: r.int64(0) * HistoryQuery.minuteMs), row: row))
            totals[key, default: HistoryRow(key: key, windowMs: q.to - q.from)].add(row)
            total.add(row)
        }
        total.report.energyMeasured = total.report.energyMeasured && !rows.isEmpty
        return History(
            query: q,
            series: series.keys.sorted().map { HistorySeries(key: $0, points: series[$0]!) },
            totals: totals.keys.sorted().map { totals[$0]! },
            total: total)
    }
}
