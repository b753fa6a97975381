public import GantryModel
public import GantryAccounting
public import GantryPersistence
import GantrySQL
import GRDB

extension Store {
    /// What a restarted coordinator needs: every unfinished job, the most recent
    /// `finishedLimit` finished ones, every node, and the jobs by state.
    public func loadForRestore(finishedLimit: Int) throws -> RestoredState {
        try pool.read { db in
            var jobs = try Self.fetchJobs(db, StoreReads.jobs(StoreReads.unfinished), related: .jobsIn(StoreReads.unfinishedIDs))
            jobs += try Self.fetchJobs(db, StoreReads.jobs(StoreReads.finishedNewestFirst, [SQLValue(finishedLimit)]))
            let nodes = try db.rows(SQLStatement("SELECT \(StoreReads.nodeColumns) FROM nodes")).compactMap(StoreReads.node)
            var counts: [JobState: Int] = [:]
            for row in try db.rows(SQLStatement(StoreReads.countsByState)) {
                if let state = JobState(rawValue: row.string(0)) { counts[state] = row.int(1) }
            }
            let keys = try db.rows(SQLStatement("SELECT \(StoreReads.keyColumns) FROM api_keys")).map(StoreReads.apiKey)
            return RestoredState(jobs: jobs, nodes: nodes, counts: counts, apiKeys: keys)
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
    static func fetchJobs(_ db: Database, _ statement: SQLStatement, related: StoreReads.Related = .byID) throws -> [Job] {
        var jobs: [Job] = []
        try db.forEachRow(statement) { row in
            if let job = StoreReads.job(row) { jobs.append(job) }
        }
        var assembler = StoreReads.Assembler(jobs)
        jobs = []  // The assembler's copy is now the only one: adding attempts copies nothing.
        for (attempts, ledger) in StoreReads.related(related, of: assembler) {
            try db.forEachRow(attempts) { assembler.addAttempt($0) }
            try db.forEachRow(ledger) { assembler.addLedger($0) }
        }
        return assembler.jobs
    }
}
