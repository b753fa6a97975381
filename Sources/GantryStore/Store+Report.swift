public import GantryModel
import GantrySQL
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
        // An open start means "since the first record".
        var from = from
        if from.unixMillis == 0, let first = try db.rows(StoreReport.firstRecord).first?.int64OrNil(0) {
            from = Timestamp(unixMillis: first)
        }
        return StoreReport.assemble(
            by: by, from: from, to: to, receipts: try db.rows(StoreReport.receipts(by: by, from: from, to: to)),
            idle: try db.rows(StoreReport.idle(by: by, from: from, to: to)))
    }

    public func idleAccruals() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM idle") ?? 0 }
    }
}
