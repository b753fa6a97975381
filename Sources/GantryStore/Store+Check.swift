import GRDB
import GantrySQL

/// What `gantryd --check-state` reports.
public struct StoreCheck: Sendable, CustomStringConvertible {
    public var path: String
    public var migrations: [String]
    public var integrity: [String]
    public var jobs: Int
    public var unfinishedJobs: Int
    public var attempts: Int
    public var nodes: Int
    public var ledgerRows: Int

    public var ok: Bool { integrity == ["ok"] && migrations.last == Store.currentSchema }

    public var description: String {
        """
        store:            \(path)
        schema:           \(migrations.joined(separator: ", ")) (this gantryd expects up to \(Store.currentSchema))
        integrity:        \(integrity.prefix(5).joined(separator: "; "))
        jobs:             \(jobs) (\(unfinishedJobs) unfinished)
        attempts:         \(attempts)
        nodes:            \(nodes)
        ledger rows:      \(ledgerRows)
        """
    }
}

extension Store {
    /// Verifies the file: SQLite's integrity check, the schema, and row counts.
    public func check() throws -> StoreCheck {
        try pool.read { db in
            StoreCheck(
                path: path,
                migrations: try Schema.migrator.appliedMigrations(db),
                integrity: try String.fetchAll(db, sql: "PRAGMA integrity_check"),
                jobs: try Int.fetchOne(db, sql: "SELECT count(*) FROM jobs") ?? 0,
                unfinishedJobs: try Int.fetchOne(db, sql: "SELECT count(*) FROM jobs WHERE \(StoreReads.unfinished)") ?? 0,
                attempts: try Int.fetchOne(db, sql: "SELECT count(*) FROM attempts") ?? 0,
                nodes: try Int.fetchOne(db, sql: "SELECT count(*) FROM nodes") ?? 0,
                ledgerRows: try Int.fetchOne(db, sql: "SELECT count(*) FROM ledger") ?? 0)
        }
    }
}
