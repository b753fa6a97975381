public import GantryModel
public import GantryAccounting
public import GantryPersistence
import GantrySQL
import GRDB

extension Store {
    /// What a restarted coordinator needs before its jobs: every node and API key, and the
    /// jobs by state. (Counting scans the table: on GRDB's reader, not the caller's thread.)
    public func restoredState() async throws -> RestoredState {
        try await pool.read { db in
            let nodes = try db.rows(SQLStatement("SELECT \(StoreReads.nodeColumns) FROM nodes")).compactMap(StoreReads.node)
            var counts: [JobState: Int] = [:]
            for row in try db.rows(SQLStatement(StoreReads.countsByState)) {
                if let state = JobState(rawValue: row.string(0)) { counts[state] = row.int(1) }
            }
            let keys = try db.rows(SQLStatement("SELECT \(StoreReads.keyColumns) FROM api_keys")).map(StoreReads.apiKey)
            return RestoredState(nodes: nodes, counts: counts, apiKeys: keys)
        }
    }

    /// Reads the jobs a restart needs (`StoreReads.restoreSelections`) and hands them to
    /// `deliver` in batches as they are read. Each selection's attempts and
    /// ledger rows are read first (few: only jobs that were tried have any), so each job
    /// is whole when read and no table of every job is built.
    static func restoreJobs(_ db: Database, finishedLimit: Int, deliver: ([Job]) -> Void) throws {
        for selection in StoreReads.restoreSelections(finishedLimit: finishedLimit) {
            var batches = StoreReads.Batches()
            let (attempts, ledger) = StoreReads.related(of: selection.ids)
            try db.forEachRow(attempts) { batches.related.addAttempt($0) }
            try db.forEachRow(ledger) { batches.related.addLedger($0) }
            try db.forEachRow(selection.jobs) { batches.add($0, deliver: deliver) }
            batches.flush(deliver: deliver)
        }
    }

    public func job(_ id: JobID) throws -> Job? {
        try pool.read { db in try Self.fetchJobs(db, StoreReads.jobs("WHERE id = ?", [.integer(Int64(bitPattern: id.rawValue))])).first }
    }

    /// Jobs newest first, filtered.
    public func jobs(_ filter: JobFilter) throws -> [Job] {
        let (rest, arguments) = StoreReads.listing(filter)
        return try pool.read { db in try Self.fetchJobs(db, StoreReads.jobs(rest, arguments)) }
    }

    public func ledger() throws -> [LedgerEntry] {
        try pool.read { db in try db.rows(StoreReads.allLedger).compactMap(StoreReads.ledgerEntry) }
    }

    /// Every idle accrual, oldest first.
    public func idle() throws -> [IdleAccrual] {
        try pool.read { db in try db.rows(StoreReads.allIdle).compactMap(StoreReads.idle) }
    }

    public func count(_ table: String) throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
    }

    /// Jobs from a `StoreReads.jobs` statement, with their attempts and receipts.
    static func fetchJobs(_ db: Database, _ statement: SQLStatement) throws -> [Job] {
        var jobs: [Job] = []
        try db.forEachRow(statement) { row in
            if let job = StoreReads.job(row) { jobs.append(job) }
        }
        var related = StoreReads.Related()
        for (attempts, ledger) in StoreReads.related(of: jobs.map { Int64(bitPattern: $0.id.rawValue) }) {
            try db.forEachRow(attempts) { related.addAttempt($0) }
            try db.forEachRow(ledger) { related.addLedger($0) }
        }
        for i in jobs.indices { related.complete(&jobs[i]) }
        return jobs
    }
}
