public import GantryAccounting
public import GantryModel
import GantryPersistence

/// The coordinator's reads as SQL, and the rows they give as Gantry's values; one mapping
/// for both backends. Rows are read by position, in the order the statements name them.
public enum StoreReads {
    public static let jobColumns = """
        id, state, model, prompt, max_tokens, priority, tenant, constraints, temperature, seed, timeout_ms, submitted_at,
        started_at, first_token_at, finished_at, output, prompt_tokens, completion_tokens, tokens_estimated, simulated, error,
        kind, messages, stop, top_p, interactive, api_key_id, finish_reason
        """
    public static let attemptColumns = "job_id, number, node, engine, state, error, assigned_at, started_at, finished_at"
    public static let nodeColumns = "id, labels, inventory, engines, cost, cordoned, draining, last_seen"
    public static let keyColumns = "id, secret_sha256, tenant, priority, models, name, max_inflight, created_at, revoked_at"
    public static let ledgerColumns = """
        job_id, attempt, node, engine, model, tenant, outcome, prompt_tokens, completion_tokens, tokens_estimated, started_at,
        finished_at, pool, wall_ms, slot_ms, busy_us, energy_mj, energy_measured, depreciation_uusd, energy_uusd, overhead_uusd
        """

    public static let idleColumns = """
        node, pool, started_at, ended_at, idle_ms, energy_mj, energy_measured, depreciation_uusd, energy_uusd, overhead_uusd,
        outside_tokens
        """
    /// Every idle accrual, oldest first (for `gantryd migrate`).
    public static let allIdle = SQLStatement("SELECT \(idleColumns) FROM idle ORDER BY ended_at, node")
    public static let allLedger = SQLStatement("SELECT \(ledgerColumns) FROM ledger ORDER BY job_id, attempt")

    /// Migration v7, the same on both backends: the unfinished jobs' ids in order.
    public static let unfinishedIndex = """
        DROP INDEX jobs_unfinished;
        CREATE INDEX jobs_unfinished ON jobs(id) WHERE state IN ('queued', 'assigned', 'running')
        """

    /// Which jobs are unfinished, as the index of that name is defined and as every query
    /// that reads through it must say it (a partial index is used only for a query whose
    /// WHERE contains its condition, word for word).
    ///
    /// Spelt as comparisons rather than `state IN (…)`: SQLite evaluates a partial index's
    /// condition on every insert and update of a row, and an IN list of three builds a
    /// temporary B-tree each time a statement runs, which made writing a job cost
    /// half as much again (measured with `perf` by library: a third of SQLite's CPU per job).
    public static let unfinished = "(state = 'queued' OR state = 'assigned' OR state = 'running')"

    /// Migration v8, the same on both backends: the unfinished jobs' index with that condition.
    public static let unfinishedIndexWithoutList = """
        DROP INDEX jobs_unfinished;
        CREATE INDEX jobs_unfinished ON jobs(id) WHERE \(unfinished)
        """

    public static let countsByState = "SELECT state, count(*) FROM jobs GROUP BY state"

    /// `SELECT jobColumns FROM jobs <rest>`.
    public static func jobs(_ rest: String, _ arguments: [SQLValue] = []) -> SQLStatement {
        SQLStatement("SELECT \(jobColumns) FROM jobs \(rest)", arguments)
    }

    /// The attempts and the ledger rows of some jobs (at most 500 ids at a time).
    static func attempts(of ids: [Int64]) -> SQLStatement {
        SQLStatement(
            "SELECT \(attemptColumns) FROM attempts WHERE job_id IN (\(marks(ids.count))) ORDER BY job_id, number", ids.map { .integer($0) })
    }

    static func ledger(of ids: [Int64]) -> SQLStatement {
        SQLStatement("SELECT \(ledgerColumns) FROM ledger WHERE job_id IN (\(marks(ids.count)))", ids.map { .integer($0) })
    }

    /// What a restart reads, in this order: every unfinished job, then the newest
    /// `finishedLimit` finished ones; each in id order (the queue's FIFO and the finished
    /// list depend on it), with a subquery (`SELECT id FROM jobs …`) that picks the same
    /// jobs, for their attempts and ledger rows.
    public static func restoreSelections(finishedLimit: Int) -> [(jobs: SQLStatement, ids: String)] {
        let finishedIDs = "SELECT id FROM jobs WHERE NOT \(unfinished) ORDER BY id DESC LIMIT \(max(0, finishedLimit))"
        let selections = [
            (jobs("WHERE \(unfinished) ORDER BY id"), "SELECT id FROM jobs WHERE \(unfinished)"),
            (jobs("WHERE id IN (\(finishedIDs)) ORDER BY id"), finishedIDs),
        ]
        // Finding none of the newest finished jobs scans the whole table.
        return finishedLimit > 0 ? selections : [selections[0]]
    }

    /// The attempts and the ledger rows of every job `ids` (`SELECT id FROM jobs …`)
    /// selects, one statement each, with the jobs as the outer loop: one primary-key probe
    /// per job, whatever the size of the history. (A million ids bound 500 at a time were
    /// 4,000 statements; `job_id IN (ids)` made SQLite build a temporary table of them
    /// first, three times slower; a plain join let it scan the whole attempts table.
    /// `CROSS JOIN` fixes SQLite's join order; PostgreSQL plans it as any inner join.)
    public static func related(of ids: String) -> (attempts: SQLStatement, ledger: SQLStatement) {
        (SQLStatement("SELECT \(attemptColumns) FROM (\(ids)) AS j CROSS JOIN attempts WHERE job_id = j.id ORDER BY j.id, number"),
         SQLStatement("SELECT \(ledgerColumns) FROM (\(ids)) AS j CROSS JOIN ledger WHERE job_id = j.id"))
    }

    /// The attempts and ledger rows of `ids`, 500 ids a statement (a listing, one job).
    public static func related(of ids: [Int64]) -> [(attempts: SQLStatement, ledger: SQLStatement)] {
        stride(from: 0, to: ids.count, by: 500).map { start in
            let chunk = Array(ids[start..<min(start + 500, ids.count)])
            return (attempts(of: chunk), ledger(of: chunk))
        }
    }

    static func marks(_ n: Int) -> String { Array(repeating: "?", count: n).joined(separator: ",") }

    /// The `WHERE … ORDER BY … LIMIT` of a job listing, newest first.
    public static func listing(_ filter: JobFilter) -> (String, [SQLValue]) {
        var clauses: [String] = []
        var arguments: [SQLValue] = []
        if let s = filter.state {
            clauses.append("state = ?")
            arguments.append(.text(s.rawValue))
        }
        if let t = filter.tenant {
            clauses.append("tenant = ?")
            arguments.append(.text(t))
        }
        if let n = filter.node {
            clauses.append("id IN (SELECT job_id FROM attempts WHERE node = ?)")
            arguments.append(.text(n.rawValue))
        }
        if let before = filter.before {
            clauses.append("id < ?")
            arguments.append(.integer(Int64(bitPattern: before.rawValue)))
        }
        arguments.append(SQLValue(filter.limit > 0 ? filter.limit : 100))
        return ((clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")) + " ORDER BY id DESC LIMIT ?", arguments)
    }

    /// A row of `jobColumns`, without attempts or receipt.
    public static func job(_ row: some SQLRow) -> Job? {
        guard let state = JobState(rawValue: row.string(1)) else { return nil }
        let spec = JobSpec(
            model: row.string(2), prompt: row.string(3), maxTokens: row.int(4), priority: row.int(5), tenant: row.string(6),
            constraints: unjsonLabels(row.stringOrNil(7)) ?? [:], temperature: row.double(8).map { Float($0) },
            seed: row.int64OrNil(9).map { UInt64(bitPattern: $0) }, timeoutMs: row.int(10),
            kind: JobKind(rawValue: row.string(21)) ?? .completion, messages: row.string(22),
            stop: row.stringOrNil(23).flatMap { unjson([String].self, $0) } ?? [], topP: row.double(24).map { Float($0) },
            interactive: row.bool(25), apiKeyID: row.stringOrNil(26))
        var job = Job(id: JobID(rawValue: UInt64(bitPattern: row.int64(0))), spec: spec, submittedAt: Timestamp(unixMillis: row.int64(11)))
        job.state = state
        job.startedAt = row.int64OrNil(12).map(Timestamp.init(unixMillis:))
        job.firstTokenAt = row.int64OrNil(13).map(Timestamp.init(unixMillis:))
        job.finishedAt = row.int64OrNil(14).map(Timestamp.init(unixMillis:))
        job.output = row.string(15)
        job.usage = Usage(promptTokens: row.int(16), completionTokens: row.int(17), estimated: row.bool(18))
        job.simulated = row.bool(19)
        job.error = row.stringOrNil(20)
        job.finishReason = row.stringOrNil(27)
        return job
    }

    /// A row of `attemptColumns`: the job's id and the attempt.
    public static func attempt(_ row: some SQLRow) -> (job: Int64, attempt: Attempt)? {
        guard let node = NodeID(row.string(2)), let state = AttemptState(rawValue: row.string(4)) else { return nil }
        return (row.int64(0), Attempt(
            number: UInt32(row.int64(1)), node: node, engine: row.string(3), state: state, error: row.stringOrNil(5),
            assignedAt: Timestamp(unixMillis: row.int64(6)), startedAt: row.int64OrNil(7).map(Timestamp.init(unixMillis:)),
            finishedAt: row.int64OrNil(8).map(Timestamp.init(unixMillis:))))
    }

    /// A row of `nodeColumns`.
    public static func node(_ row: some SQLRow) -> PersistedNode? {
        guard let id = NodeID(row.string(0)) else { return nil }
        return PersistedNode(
            id: id, labels: unjson(Labels.self, row.stringOrNil(1)) ?? [:], inventory: unjson(Inventory.self, row.stringOrNil(2)) ?? Inventory(),
            engines: unjson([EngineStatus].self, row.stringOrNil(3)) ?? [], cost: unjson(CostProfile.self, row.stringOrNil(4)) ?? .free,
            cordoned: row.bool(5), draining: row.bool(6), lastSeen: Timestamp(unixMillis: row.int64(7)))
    }

    /// A row of `keyColumns`.
    public static func apiKey(_ row: some SQLRow) -> ApiKey {
        ApiKey(
            id: row.string(0),
            spec: ApiKeySpec(
                tenant: row.string(2), priority: row.int(3), models: unjson([String].self, row.stringOrNil(4)) ?? [], name: row.string(5),
                maxInflight: row.int(6)),
            secretHash: row.bytes(1), createdAt: Timestamp(unixMillis: row.int64(7)), revokedAt: row.int64OrNil(8).map(Timestamp.init(unixMillis:)))
    }

    /// A row of `idleColumns`.
    public static func idle(_ row: some SQLRow) -> IdleAccrual? {
        guard let node = NodeID(row.string(0)) else { return nil }
        var i = IdleAccrual(node: node, pool: row.string(1), from: Timestamp(unixMillis: row.int64(2)), to: Timestamp(unixMillis: row.int64(3)))
        i.idleMs = row.int64(4)
        i.energyMillijoules = row.int64(5)
        i.energyMeasured = row.bool(6)
        i.depreciationMicroUSD = row.int64(7)
        i.energyMicroUSD = row.int64(8)
        i.overheadMicroUSD = row.int64(9)
        i.outsideTokens = row.int64(10)
        return i
    }

    /// A row of `ledgerColumns`.
    public static func ledgerEntry(_ row: some SQLRow) -> LedgerEntry? {
        guard let node = NodeID(row.string(2)), let outcome = Outcome(rawValue: row.string(6)) else { return nil }
        return LedgerEntry(
            job: JobID(rawValue: UInt64(bitPattern: row.int64(0))), attempt: UInt32(row.int64(1)), node: node, engine: row.string(3),
            model: row.string(4), tenant: row.string(5), outcome: outcome, promptTokens: row.int(7), completionTokens: row.int(8),
            tokensEstimated: row.bool(9), startedAt: Timestamp(unixMillis: row.int64(10)), finishedAt: Timestamp(unixMillis: row.int64(11)),
            pool: row.string(12), receipt: receipt(row))
    }

    /// The receipt in a row of `ledgerColumns`.
    public static func receipt(_ row: some SQLRow) -> Receipt {
        Receipt(
            promptTokens: row.int(7), completionTokens: row.int(8), wallMs: row.int64(13), slotMs: row.int64(14), busyMicros: row.int64(15),
            energyMillijoules: row.int64(16), energyMeasured: row.bool(17), depreciationMicroUSD: row.int64(18),
            energyMicroUSD: row.int64(19), overheadMicroUSD: row.int64(20))
    }

    /// Jobs for a restart, made whole from rows of `jobColumns` and handed over in
    /// batches: the rows of one `restoreSelections` entry go to `add`, after its related
    /// rows went to `related`; `flush` hands over the rest.
    public struct Batches {
        public var related = Related()
        private var batch: [Job] = []
        /// Big enough that handing a batch over costs nothing, small enough that the reader
        /// and the coordinator work side by side from the start.
        static let size = 2048

        public init() { batch.reserveCapacity(Self.size) }

        public mutating func add(_ row: some SQLRow, deliver: ([Job]) -> Void) {
            guard var job = StoreReads.job(row) else { return }
            related.complete(&job)
            batch.append(job)
            if batch.count == Self.size { flush(deliver: deliver) }
        }

        public mutating func flush(deliver: ([Job]) -> Void) {
            if !batch.isEmpty { deliver(batch) }
            batch.removeAll(keepingCapacity: true)
        }
    }

    /// Attempts and ledger rows (receipts) by job, read before or after the jobs they
    /// belong to, and added to each job read with `job(_:)` by `complete(_:)`. Keyed by the
    /// related rows, not by the jobs: a restart of a million jobs that were never tried
    /// holds nothing here.
    public struct Related {
        private var attempts: [Int64: [Attempt]] = [:]
        private var receipts: [Int64: [(attempt: UInt32, receipt: Receipt)]] = [:]

        public init() {}

        public mutating func addAttempt(_ row: some SQLRow) {
            guard let (job, attempt) = StoreReads.attempt(row) else { return }
            attempts[job, default: []].append(attempt)
        }

        public mutating func addLedger(_ row: some SQLRow) {
            receipts[row.int64(0), default: []].append((UInt32(row.int64(1)), StoreReads.receipt(row)))
        }

        /// Adds the job's attempts (in the order read: by number), its receipt (the sum of
        /// its ledger rows) and each attempt's own receipt.
        public func complete(_ job: inout Job) {
            guard !attempts.isEmpty || !receipts.isEmpty else { return }
            let id = Int64(bitPattern: job.id.rawValue)
            if let a = attempts[id] { job.attempts += a }
            for (number, r) in receipts[id] ?? [] {
                job.receipt = job.receipt.map { $0 + r } ?? r
                if let i = job.attempts.lastIndex(where: { $0.number == number }) { job.attempts[i].receipt = r }
            }
        }
    }
}
