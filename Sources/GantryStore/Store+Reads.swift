public import GantryModel
public import GantryPersistence
import GRDB
import Foundation

extension Store {
    /// What a restarted coordinator needs: every unfinished job, the most recent
    /// `finishedLimit` finished ones, every node, and the jobs by state.
    public func loadForRestore(finishedLimit: Int) throws -> RestoredState {
        try pool.read { db in
            var jobs = try Self.fetchJobs(db, where: "WHERE state IN ('queued', 'assigned', 'running') ORDER BY id")
            jobs += try Self.fetchJobs(db, where: "WHERE state NOT IN ('queued', 'assigned', 'running') ORDER BY id DESC LIMIT ?", arguments: [finishedLimit])
            let nodes = try Row.fetchAll(db, sql: "SELECT * FROM nodes").compactMap(Self.node)
            var counts: [JobState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, count(*) FROM jobs GROUP BY state") {
                if let state = JobState(rawValue: row[0]) { counts[state] = row[1] }
            }
            let keys = try Row.fetchAll(db, sql: """
                SELECT id, secret_sha256, tenant, priority, models, name, max_inflight, created_at, revoked_at FROM api_keys
                """).map { row in
                let hash: Data = row[1]
                let models: String = row[4]
                return ApiKey(
                    id: row[0], spec: ApiKeySpec(tenant: row[2], priority: row[3], models: unjson([String].self, models) ?? [], name: row[5], maxInflight: row[6]),
                    secretHash: Array(hash), createdAt: Timestamp(unixMillis: row[7]), revokedAt: timestamp(row[8]))
            }
            return RestoredState(jobs: jobs, nodes: nodes, counts: counts, apiKeys: keys)
        }
    }

    public func job(_ id: JobID) throws -> Job? {
        try pool.read { db in
            try Self.fetchJobs(db, where: "WHERE id = ?", arguments: [Int64(bitPattern: id.rawValue)]).first
        }
    }

    /// Jobs newest first, filtered.
    public func jobs(_ filter: JobFilter) throws -> [Job] {
        let (rest, arguments) = Self.jobsQuery(filter)
        return try pool.read { db in try Self.fetchJobs(db, where: rest, arguments: arguments) }
    }

    /// The `WHERE … ORDER BY … LIMIT` of a job listing.
    static func jobsQuery(_ filter: JobFilter) -> (String, StatementArguments) {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let s = filter.state {
            clauses.append("state = ?")
            _ = arguments.append(contentsOf: [s.rawValue])
        }
        if let t = filter.tenant {
            clauses.append("tenant = ?")
            _ = arguments.append(contentsOf: [t])
        }
        if let n = filter.node {
            clauses.append("id IN (SELECT job_id FROM attempts WHERE node = ?)")
            _ = arguments.append(contentsOf: [n.rawValue])
        }
        if let before = filter.before {
            clauses.append("id < ?")
            _ = arguments.append(contentsOf: [Int64(bitPattern: before.rawValue)])
        }
        let limit = filter.limit > 0 ? filter.limit : 100
        _ = arguments.append(contentsOf: [limit])
        return ((clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")) + " ORDER BY id DESC LIMIT ?", arguments)
    }

    public func ledger() throws -> [LedgerEntry] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM ledger ORDER BY job_id, attempt").compactMap(Self.ledgerEntry)
        }
    }

    public func count(_ table: String) throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
    }

    /// The job columns `fetchJobs` reads, in the order it reads them. Rows are read by
    /// position: GRDB's lookup by name lowercases the name on every access, which was half
    /// of a restart's time.
    static let jobColumns = """
        id, state, model, prompt, max_tokens, priority, tenant, constraints, temperature, seed, timeout_ms, submitted_at,
        started_at, first_token_at, finished_at, output, prompt_tokens, completion_tokens, tokens_estimated, simulated, error,
        kind, messages, stop, top_p, interactive, api_key_id, finish_reason
        """
    static let attemptColumns = "job_id, number, node, engine, state, error, assigned_at, started_at, finished_at"

    /// Jobs from `SELECT jobColumns FROM jobs <rest>`, with their attempts and receipts.
    static func fetchJobs(_ db: Database, where rest: String, arguments: StatementArguments = []) throws -> [Job] {
        var jobs: [Job] = []
        let cursor = try Row.fetchCursor(db, sql: "SELECT \(jobColumns) FROM jobs \(rest)", arguments: arguments)
        while let row = try cursor.next() {
            if let job = decodeJob(row) { jobs.append(job) }
        }
        // Attempts and receipts for these jobs, in chunks (SQLite limits bound parameters).
        for chunk in stride(from: 0, to: jobs.count, by: 500) {
            let range = chunk..<min(chunk + 500, jobs.count)
            let ids = jobs[range].map { Int64(bitPattern: $0.id.rawValue) }
            let position = Dictionary(uniqueKeysWithValues: zip(ids, range))
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
            let attemptRows = try Row.fetchCursor(
                db, sql: "SELECT \(attemptColumns) FROM attempts WHERE job_id IN (\(marks)) ORDER BY job_id, number",
                arguments: StatementArguments(ids))
            while let row = try attemptRows.next() {
                guard let i = position[row[0]], let attempt = decodeAttempt(row) else { continue }
                jobs[i].attempts.append(attempt)
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM ledger WHERE job_id IN (\(marks))", arguments: StatementArguments(ids)) {
                guard let i = position[row["job_id"]] else { continue }
                let r = receipt(row)
                jobs[i].receipt = jobs[i].receipt.map { $0 + r } ?? r
                let attempt: Int64 = row["attempt"]
                if let a = jobs[i].attempts.lastIndex(where: { Int64($0.number) == attempt }) { jobs[i].attempts[a].receipt = r }
            }
        }
        return jobs
    }

    /// A row of `jobColumns`, without attempts or receipt.
    static func decodeJob(_ row: Row) -> Job? {
        guard let state = JobState(rawValue: row[1]) else { return nil }
        let rawID: Int64 = row[0]
        let constraints: String? = row[7]
        let temperature: Double? = row[8]
        let seed: Int64? = row[9]
        let stop: String? = row[23]
        let topP: Double? = row[24]
        let spec = JobSpec(
            model: row[2], prompt: row[3] ?? "", maxTokens: row[4], priority: row[5], tenant: row[6],
            constraints: unjsonLabels(constraints) ?? [:], temperature: temperature.map { Float($0) },
            seed: seed.map { UInt64(bitPattern: $0) }, timeoutMs: row[10], kind: JobKind(rawValue: row[21]) ?? .completion,
            messages: row[22] ?? "", stop: stop.flatMap { unjson([String].self, $0) } ?? [], topP: topP.map { Float($0) },
            interactive: row[25], apiKeyID: row[26])
        var job = Job(id: JobID(rawValue: UInt64(bitPattern: rawID)), spec: spec, submittedAt: Timestamp(unixMillis: row[11]))
        job.state = state
        job.startedAt = timestamp(row[12])
        job.firstTokenAt = timestamp(row[13])
        job.finishedAt = timestamp(row[14])
        job.output = row[15] ?? ""
        job.usage = Usage(promptTokens: row[16], completionTokens: row[17], estimated: row[18])
        job.simulated = row[19]
        job.error = row[20]
        job.finishReason = row[27]
        return job
    }

    /// A row of `attemptColumns`.
    static func decodeAttempt(_ row: Row) -> Attempt? {
        guard let node = NodeID(row[2] as String), let state = AttemptState(rawValue: row[4]) else { return nil }
        let number: Int64 = row[1]
        return Attempt(
            number: UInt32(number), node: node, engine: row[3], state: state, error: row[5],
            assignedAt: Timestamp(unixMillis: row[6]), startedAt: timestamp(row[7]), finishedAt: timestamp(row[8]))
    }

    static func node(_ row: Row) -> PersistedNode? {
        let name: String = row["id"]
        guard let id = NodeID(name) else { return nil }
        return PersistedNode(
            id: id, labels: unjson(Labels.self, row["labels"]) ?? [:], inventory: unjson(Inventory.self, row["inventory"]) ?? Inventory(),
            engines: unjson([EngineStatus].self, row["engines"]) ?? [], cost: unjson(CostProfile.self, row["cost"]) ?? .free,
            cordoned: row["cordoned"], draining: row["draining"], lastSeen: Timestamp(unixMillis: row["last_seen"]))
    }

    static func ledgerEntry(_ row: Row) -> LedgerEntry? {
        let nodeName: String = row["node"]
        let outcomeName: String = row["outcome"]
        guard let node = NodeID(nodeName), let outcome = Outcome(rawValue: outcomeName) else { return nil }
        let attempt: Int64 = row["attempt"]
        return LedgerEntry(
            job: JobID(rawValue: UInt64(bitPattern: row["job_id"])), attempt: UInt32(attempt), node: node,
            engine: row["engine"], model: row["model"], tenant: row["tenant"], outcome: outcome, promptTokens: row["prompt_tokens"],
            completionTokens: row["completion_tokens"], tokensEstimated: row["tokens_estimated"],
            startedAt: Timestamp(unixMillis: row["started_at"]), finishedAt: Timestamp(unixMillis: row["finished_at"]),
            pool: row["pool"], receipt: receipt(row))
    }

    static func receipt(_ row: Row) -> Receipt {
        Receipt(
            promptTokens: row["prompt_tokens"], completionTokens: row["completion_tokens"], wallMs: row["wall_ms"],
            slotMs: row["slot_ms"], busyMicros: row["busy_us"], energyMillijoules: row["energy_mj"],
            energyMeasured: row["energy_measured"], depreciationMicroUSD: row["depreciation_uusd"],
            energyMicroUSD: row["energy_uusd"], overheadMicroUSD: row["overhead_uusd"])
    }
}

func timestamp(_ ms: Int64?) -> Timestamp? { ms.map { Timestamp(unixMillis: $0) } }
