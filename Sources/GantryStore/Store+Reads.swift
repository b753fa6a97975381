public import GantryModel
import GRDB

extension Store {
    /// What a restarted coordinator needs: every unfinished job, the most recent
    /// `finishedLimit` finished ones, and every node.
    public func loadForRestore(finishedLimit: Int) throws -> (jobs: [Job], nodes: [PersistedNode]) {
        try pool.read { db in
            var jobs = try Self.fetchJobs(db, sql: "SELECT * FROM jobs WHERE state IN ('queued', 'assigned', 'running') ORDER BY id")
            jobs += try Self.fetchJobs(db, sql: "SELECT * FROM jobs WHERE state NOT IN ('queued', 'assigned', 'running') ORDER BY id DESC LIMIT ?", arguments: [finishedLimit])
            let nodes = try Row.fetchAll(db, sql: "SELECT * FROM nodes").compactMap(Self.node)
            return (jobs, nodes)
        }
    }

    public func job(_ id: JobID) throws -> Job? {
        try pool.read { db in
            try Self.fetchJobs(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [Int64(bitPattern: id.rawValue)]).first
        }
    }

    /// Jobs newest first, filtered.
    public func jobs(_ filter: JobFilter) throws -> [Job] {
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
        let limit = filter.limit > 0 ? filter.limit : 100
        _ = arguments.append(contentsOf: [limit])
        let sql = "SELECT * FROM jobs" + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")) + " ORDER BY id DESC LIMIT ?"
        return try pool.read { db in try Self.fetchJobs(db, sql: sql, arguments: arguments) }
    }

    public func ledger() throws -> [LedgerEntry] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM ledger ORDER BY job_id, attempt").compactMap(Self.ledgerEntry)
        }
    }

    public func count(_ table: String) throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
    }

    static func fetchJobs(_ db: Database, sql: String, arguments: StatementArguments = []) throws -> [Job] {
        let rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
        guard !rows.isEmpty else { return [] }
        var attempts: [Int64: [Attempt]] = [:]
        var receipts: [Int64: Receipt] = [:]
        let ids = rows.map { $0["id"] as Int64 }
        // Attempts for these jobs, in chunks (SQLite limits bound parameters).
        for chunk in stride(from: 0, to: ids.count, by: 500) {
            let part = Array(ids[chunk..<min(chunk + 500, ids.count)])
            let marks = Array(repeating: "?", count: part.count).joined(separator: ",")
            for row in try Row.fetchAll(db, sql: "SELECT * FROM attempts WHERE job_id IN (\(marks)) ORDER BY job_id, number", arguments: StatementArguments(part)) {
                let nodeName: String = row["node"]
                let stateName: String = row["state"]
                guard let node = NodeID(nodeName), let state = AttemptState(rawValue: stateName) else { continue }
                let jobID: Int64 = row["job_id"]
                let number: Int64 = row["number"]
                let engine: String = row["engine"]
                let error: String? = row["error"]
                let attempt = Attempt(
                    number: UInt32(number), node: node, engine: engine, state: state, error: error,
                    assignedAt: Timestamp(unixMillis: row["assigned_at"]), startedAt: timestamp(row, "started_at"),
                    finishedAt: timestamp(row, "finished_at"))
                attempts[jobID, default: []].append(attempt)
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM ledger WHERE job_id IN (\(marks))", arguments: StatementArguments(part)) {
                let jobID: Int64 = row["job_id"]
                let r = receipt(row)
                receipts[jobID] = receipts[jobID].map { $0 + r } ?? r
            }
        }
        return rows.compactMap { row in
            let stateName: String = row["state"]
            guard let state = JobState(rawValue: stateName) else { return nil }
            let rawID: Int64 = row["id"]
            let spec = JobSpec(
                model: row["model"], prompt: row["prompt"] ?? "", maxTokens: row["max_tokens"], priority: row["priority"],
                tenant: row["tenant"], constraints: unjson(Labels.self, row["constraints"]) ?? [:],
                temperature: (row["temperature"] as Double?).map { Float($0) }, seed: (row["seed"] as Int64?).map { UInt64(bitPattern: $0) },
                timeoutMs: row["timeout_ms"])
            var job = Job(id: JobID(rawValue: UInt64(bitPattern: rawID)), spec: spec, submittedAt: Timestamp(unixMillis: row["submitted_at"]))
            job.state = state
            job.attempts = attempts[rawID] ?? []
            job.output = row["output"] ?? ""
            job.usage = Usage(promptTokens: row["prompt_tokens"], completionTokens: row["completion_tokens"], estimated: row["tokens_estimated"])
            job.error = row["error"]
            job.startedAt = timestamp(row, "started_at")
            job.firstTokenAt = timestamp(row, "first_token_at")
            job.finishedAt = timestamp(row, "finished_at")
            job.simulated = row["simulated"]
            job.receipt = receipts[rawID]
            return job
        }
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

func timestamp(_ row: Row, _ column: String) -> Timestamp? {
    let ms: Int64? = row[column]
    return ms.map { Timestamp(unixMillis: $0) }
}
