import GantryAccounting
public import GantryModel
public import GantryPersistence
import Foundation

/// The coordinator's writes as SQL, one mapping for both backends.
public enum StoreWrites {
    /// The writes for a batch of changes, in the order they must run. Several versions of
    /// one job, node or API key in the batch are coalesced to the last; ledger rows are
    /// inserted once. A job is written whole (an upsert) when its first version in the
    /// batch is a `.job`, and as an update of what changes when it is a `.jobUpdate`.
    public static func writes(_ changes: [StoreChange]) -> [SQLWrite] {
        // Where each job's last version is in `changes` (not a copy of it: a batch holds
        // thousands), and the order in which jobs first appear, with the attempts the
        // store held before the batch (nil: the job is written whole).
        var lastJob: [JobID: Int] = [:]
        lastJob.reserveCapacity(changes.count)
        var jobOrder: [(id: JobID, storedAttempts: Int?)] = []
        jobOrder.reserveCapacity(changes.count)
        var nodes: [NodeID: PersistedNode] = [:]
        var nodeOrder: [NodeID] = []
        var keys: [String: ApiKey] = [:]
        var keyOrder: [String] = []
        var ledger = SQLInsert(head: insertLedgerHead, tail: "ON CONFLICT (job_id, attempt) DO NOTHING", columns: 21, rows: [])
        var idle = SQLInsert(head: insertIdleHead, tail: "", columns: 11, rows: [])
        var ledgerEntries: [LedgerEntry] = []
        var accruals: [IdleAccrual] = []
        for (index, change) in changes.enumerated() {
            switch change {
            case .job(let j):
                if lastJob.updateValue(index, forKey: j.id) == nil { jobOrder.append((j.id, nil)) }
            case .jobUpdate(let j, let stored):
                if lastJob.updateValue(index, forKey: j.id) == nil { jobOrder.append((j.id, stored)) }
            case .node(let n):
                if nodes.updateValue(n, forKey: n.id) == nil { nodeOrder.append(n.id) }
            case .ledger(let e):
                ledger.rows.append(row(e))
                ledgerEntries.append(e)
            case .idle(let i):
                accruals.append(i)
                idle.rows.append([
                    SQLValue(i.node.rawValue), SQLValue(i.pool), SQLValue(i.from.unixMillis), SQLValue(i.to.unixMillis), SQLValue(i.idleMs),
                    SQLValue(i.energyMillijoules), SQLValue(i.energyMeasured), SQLValue(i.depreciationMicroUSD), SQLValue(i.energyMicroUSD),
                    SQLValue(i.overheadMicroUSD), SQLValue(i.outsideTokens),
                ])
            case .apiKey(let k):
                if keys.updateValue(k, forKey: k.id) == nil { keyOrder.append(k.id) }
            }
        }
        var out: [SQLWrite] = []
        if !jobOrder.isEmpty {
            var jobRows = SQLInsert(head: upsertJobHead, tail: upsertJobTail, columns: 28, rows: [])
            var jobUpdates = SQLUpdate(table: "jobs", set: jobUpdateColumns, key: [.init("id", "BIGINT")])
            var attemptRows = SQLInsert(head: upsertAttemptHead, tail: upsertAttemptTail, columns: 9, rows: [])
            var attemptUpdates = SQLUpdate(table: "attempts", set: attemptUpdateColumns, key: [.init("job_id", "BIGINT"), .init("number", "BIGINT")])
            for (id, stored) in jobOrder {
                guard let job = changes[lastJob[id]!].job else { continue }
                let jobID = SQLValue(Int64(bitPattern: job.id.rawValue))
                if stored != nil { jobUpdates.rows.append(updateRow(job)) } else { jobRows.rows.append(row(job)) }
                for (i, a) in job.attempts.enumerated() {
                    if let stored, i < stored {
                        attemptUpdates.rows.append([
                            SQLValue(a.state.rawValue), SQLValue(a.error), SQLValue(a.startedAt?.unixMillis), SQLValue(a.finishedAt?.unixMillis),
                            jobID, SQLValue(Int64(a.number)),
                        ])
                    } else {
                        attemptRows.rows.append([
                            jobID, SQLValue(Int64(a.number)), SQLValue(a.node.rawValue), SQLValue(a.engine),
                            SQLValue(a.state.rawValue), SQLValue(a.error), SQLValue(a.assignedAt.unixMillis), SQLValue(a.startedAt?.unixMillis),
                            SQLValue(a.finishedAt?.unixMillis),
                        ])
                    }
                }
            }
            if !jobRows.rows.isEmpty { out.append(.insert(jobRows)) }
            if !jobUpdates.rows.isEmpty { out.append(.update(jobUpdates)) }
            if !attemptUpdates.rows.isEmpty { out.append(.update(attemptUpdates)) }
            if !attemptRows.rows.isEmpty { out.append(.insert(attemptRows)) }
        }
        if !nodeOrder.isEmpty {
            out.append(.insert(SQLInsert(head: upsertNodeHead, tail: upsertNodeTail, columns: 8, rows: nodeOrder.map { id in
                let n = nodes[id]!
                return [
                    SQLValue(n.id.rawValue), SQLValue(json(n.labels)), SQLValue(json(n.inventory)), SQLValue(json(n.engines)),
                    SQLValue(json(n.cost)), SQLValue(n.cordoned), SQLValue(n.draining), SQLValue(n.lastSeen.unixMillis),
                ]
            })))
        }
        if !ledger.rows.isEmpty { out.append(.insert(ledger)) }
        if !keyOrder.isEmpty {
            out.append(.insert(SQLInsert(head: upsertKeyHead, tail: "ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at", columns: 9, rows: keyOrder.map { id in
                let k = keys[id]!
                return [
                    SQLValue(k.id), .blob(k.secretHash), SQLValue(k.spec.tenant), SQLValue(k.spec.priority), SQLValue(json(k.spec.models)),
                    SQLValue(k.spec.name), SQLValue(k.spec.maxInflight), SQLValue(k.createdAt.unixMillis), SQLValue(k.revokedAt?.unixMillis),
                ]
            })))
        }
        if !idle.rows.isEmpty { out.append(.insert(idle)) }
        if let rollups = StoreRollups.upsert(ledger: ledgerEntries, idle: accruals) { out.append(.insert(rollups)) }
        return out
    }

    static func row(_ job: Job) -> [SQLValue] {
        let s = job.spec
        return [
            SQLValue(Int64(bitPattern: job.id.rawValue)), SQLValue(job.state.rawValue), SQLValue(s.model), SQLValue(s.prompt),
            SQLValue(s.maxTokens), SQLValue(s.priority), SQLValue(s.tenant), SQLValue(labelsJSON(s.constraints)),
            SQLValue(s.temperature.map { Double($0) }), SQLValue(s.seed.map { Int64(bitPattern: $0) }), SQLValue(s.timeoutMs),
            SQLValue(job.submittedAt.unixMillis), SQLValue(job.startedAt?.unixMillis), SQLValue(job.firstTokenAt?.unixMillis),
            SQLValue(job.finishedAt?.unixMillis), SQLValue(job.output), SQLValue(job.usage.promptTokens), SQLValue(job.usage.completionTokens),
            SQLValue(job.usage.estimated), SQLValue(job.simulated), SQLValue(job.error), SQLValue(s.kind.rawValue),
            SQLValue(s.kind == .chat ? s.messages : nil), SQLValue(s.stop.isEmpty ? nil : json(s.stop)), SQLValue(s.topP.map { Double($0) }),
            SQLValue(s.interactive), SQLValue(s.apiKeyID), SQLValue(job.finishReason),
        ]
    }

    /// What a job's update writes: the columns `upsertJobTail` sets, then its id.
    static func updateRow(_ job: Job) -> [SQLValue] {
        [
            SQLValue(job.state.rawValue), SQLValue(job.startedAt?.unixMillis), SQLValue(job.firstTokenAt?.unixMillis),
            SQLValue(job.finishedAt?.unixMillis), SQLValue(job.output), SQLValue(job.usage.promptTokens), SQLValue(job.usage.completionTokens),
            SQLValue(job.usage.estimated), SQLValue(job.simulated), SQLValue(job.error), SQLValue(job.finishReason),
            SQLValue(Int64(bitPattern: job.id.rawValue)),
        ]
    }

    static let jobUpdateColumns: [SQLUpdate.Column] = [
        .init("state", "TEXT"), .init("started_at", "BIGINT"), .init("first_token_at", "BIGINT"), .init("finished_at", "BIGINT"),
        .init("output", "TEXT"), .init("prompt_tokens", "BIGINT"), .init("completion_tokens", "BIGINT"), .init("tokens_estimated", "BIGINT"),
        .init("simulated", "BIGINT"), .init("error", "TEXT"), .init("finish_reason", "TEXT"),
    ]
    static let attemptUpdateColumns: [SQLUpdate.Column] = [
        .init("state", "TEXT"), .init("error", "TEXT"), .init("started_at", "BIGINT"), .init("finished_at", "BIGINT"),
    ]

    static func row(_ e: LedgerEntry) -> [SQLValue] {
        let r = e.receipt
        return [
            SQLValue(Int64(bitPattern: e.job.rawValue)), SQLValue(Int64(e.attempt)), SQLValue(e.node.rawValue), SQLValue(e.engine),
            SQLValue(e.model), SQLValue(e.tenant), SQLValue(e.outcome.rawValue), SQLValue(e.promptTokens), SQLValue(e.completionTokens),
            SQLValue(e.tokensEstimated), SQLValue(e.startedAt.unixMillis), SQLValue(e.finishedAt.unixMillis), SQLValue(e.pool),
            SQLValue(r.wallMs), SQLValue(r.slotMs), SQLValue(r.busyMicros), SQLValue(r.energyMillijoules), SQLValue(r.energyMeasured),
            SQLValue(r.depreciationMicroUSD), SQLValue(r.energyMicroUSD), SQLValue(r.overheadMicroUSD),
        ]
    }

    static let upsertJobHead = """
        INSERT INTO jobs (id, state, model, prompt, max_tokens, priority, tenant, constraints, temperature, seed, timeout_ms,
            submitted_at, started_at, first_token_at, finished_at, output, prompt_tokens, completion_tokens, tokens_estimated,
            simulated, error, kind, messages, stop, top_p, interactive, api_key_id, finish_reason)
        """
    static let upsertJobTail = """
        ON CONFLICT (id) DO UPDATE SET state = excluded.state, started_at = excluded.started_at,
            first_token_at = excluded.first_token_at, finished_at = excluded.finished_at, output = excluded.output,
            prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
            tokens_estimated = excluded.tokens_estimated, simulated = excluded.simulated, error = excluded.error,
            finish_reason = excluded.finish_reason
        """
    static let upsertAttemptHead = "INSERT INTO attempts (job_id, number, node, engine, state, error, assigned_at, started_at, finished_at)"
    static let upsertAttemptTail = """
        ON CONFLICT (job_id, number) DO UPDATE SET state = excluded.state, error = excluded.error,
            started_at = excluded.started_at, finished_at = excluded.finished_at
        """
    static let upsertNodeHead = "INSERT INTO nodes (id, labels, inventory, engines, cost, cordoned, draining, last_seen)"
    static let upsertNodeTail = """
        ON CONFLICT (id) DO UPDATE SET labels = excluded.labels, inventory = excluded.inventory, engines = excluded.engines,
            cost = excluded.cost, cordoned = excluded.cordoned, draining = excluded.draining, last_seen = excluded.last_seen
        """
    static let insertLedgerHead = """
        INSERT INTO ledger (job_id, attempt, node, engine, model, tenant, outcome, prompt_tokens, completion_tokens,
            tokens_estimated, started_at, finished_at, pool, wall_ms, slot_ms, busy_us, energy_mj, energy_measured,
            depreciation_uusd, energy_uusd, overhead_uusd)
        """
    static let upsertKeyHead = "INSERT INTO api_keys (id, secret_sha256, tenant, priority, models, name, max_inflight, created_at, revoked_at)"
    static let insertIdleHead = """
        INSERT INTO idle (node, pool, started_at, ended_at, idle_ms, energy_mj, energy_measured, depreciation_uusd,
            energy_uusd, overhead_uusd, outside_tokens)
        """

    /// Drops prompts and outputs of jobs finished before the cutoff (ledger rows and job
    /// metadata stay: they are the accounting).
    public static func prune(finishedBefore cutoff: Timestamp) -> SQLStatement {
        SQLStatement("""
            UPDATE jobs SET prompt = NULL, output = NULL, messages = NULL, pruned = 1
            WHERE pruned = 0 AND finished_at IS NOT NULL AND finished_at < ?
            """, [SQLValue(cutoff.unixMillis)])
    }
}

func json<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "null"
}

/// Most jobs carry no constraints: skip the encoder (it dominated the job upsert).
func labelsJSON(_ labels: Labels) -> String { labels.isEmpty ? "{}" : json(labels) }

func unjsonLabels(_ text: String?) -> Labels? { text == "{}" ? [:] : unjson(Labels.self, text) }

func unjson<T: Decodable>(_ type: T.Type, _ text: String?) -> T? {
    guard let text else { return nil }
    return try? JSONDecoder().decode(type, from: Data(text.utf8))
}
