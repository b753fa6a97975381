public import GantryModel
public import GantryPersistence
import GantrySQL
import GRDB

/// The SQLite backend of the store interface. Reads go through the pool's readers on
/// GRDB's own queues, never the caller's thread, and never block the writer (WAL).
extension Store: CoordinatorStore {
    public var location: String { path }

    public func restoreJobs(finishedLimit: Int, deliver: @Sendable ([Job]) -> Void) async throws {
        try await pool.read { db in try Self.restoreJobs(db, finishedLimit: finishedLimit, deliver: deliver) }
    }

    public func answer(_ query: StoreQuery) async throws -> StoreAnswer {
        switch query {
        case .job(let id):
            return .job(try await pool.read { db in
                try Self.fetchJobs(db, StoreReads.jobs("WHERE id = ?", [.integer(Int64(bitPattern: id.rawValue))])).first
            })
        case .jobs(let filter):
            let (rest, arguments) = StoreReads.listing(filter)
            return .jobs(try await pool.read { db in try Self.fetchJobs(db, StoreReads.jobs(rest, arguments)) })
        case .report(let by, let from, let to, _, _):
            return .report(try await pool.read { db in try Self.report(db, by: by, from: from, to: to) })
        case .history(let q):
            return .history(try await pool.read { db in StoreRollups.assemble(q, rows: try db.rows(StoreRollups.select(q))) })
        }
    }

    public func pruneHistory(before cutoff: Timestamp) async throws -> Int {
        let prune = StoreRollups.prune(before: cutoff)
        return try await pool.write { db in
            try db.execute(sql: prune.sql, arguments: prune.arguments.arguments)
            return db.changesCount
        }
    }
}
