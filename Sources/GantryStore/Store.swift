public import GantryPersistence
public import GantryModel
import GantryAccounting
import Foundation
import GRDB

/// The coordinator's durable state: SQLite in WAL mode (GRDB), one file in `state_dir`.
///
/// Writes go through one writer (`GroupCommit`, in the coordinator) with `synchronous = FULL`, so a
/// committed transaction survives a crash of the process or the machine. Reads use the
/// pool's readers and never block the writer.
public final class Store: Sendable {
    public static let fileName = "gantry.sqlite"

    let pool: DatabasePool
    public let path: String

    init(pool: DatabasePool, path: String) {
        self.pool = pool
        self.path = path
    }

    /// Opens (creating and migrating if needed) the store in `stateDir`.
    ///
    /// Refuses, with an error naming the problem, a missing or read-only directory, a disk
    /// with less than `minFreeBytes` free, a file that is not a Gantry database, and a
    /// schema newer than this binary knows.
    public static func open(stateDir: String, minFreeBytes: UInt64 = 64 << 20, readOnly: Bool = false) throws(StoreError) -> Store {
        try StorePreflight.check(directory: stateDir, minFreeBytes: readOnly ? 0 : minFreeBytes, writable: !readOnly)
        let path = stateDir.hasSuffix("/") ? stateDir + fileName : stateDir + "/" + fileName
        if readOnly, !FileManager.default.fileExists(atPath: path) {
            throw StoreError("no store at \(path)")
        }
        var config = Configuration()
        config.readonly = readOnly
        config.label = "gantry"
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            // FULL: a commit is on disk before it is acknowledged. WAL: readers never
            // block the writer.
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw StoreError("cannot open the store \(path): \(describe(error))")
        }
        let store = Store(pool: pool, path: path)
        do {
            try store.checkSchemaIsKnown()
            if !readOnly { try Schema.migrator.migrate(pool) }
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError("cannot migrate the store \(path): \(describe(error))")
        }
        return store
    }

    /// A schema written by a newer gantryd is refused rather than misread.
    func checkSchemaIsKnown() throws {
        let applied = try pool.read { db -> [String] in
            guard try db.tableExists("grdb_migrations") else { return [] }
            return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
        }
        let known = Set(Schema.migrations.map(\.0))
        if let unknown = applied.first(where: { !known.contains($0) }) {
            throw StoreError("the store \(path) has schema migration '\(unknown)', which this gantryd does not know (it was written by a newer version); refusing to start")
        }
    }

    /// The migrations applied, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Schema.migrator.appliedMigrations(db) }
    }

    public static var currentSchema: String { Schema.current }

    // MARK: writes

    /// Applies changes in one transaction. Several versions of one job or node in the
    /// batch are coalesced to the last; ledger rows are inserted once.
    public func apply(_ changes: [StoreChange]) throws {
        var jobs: [JobID: Job] = [:]
        var jobOrder: [JobID] = []
        var nodes: [NodeID: PersistedNode] = [:]
        var ledger: [LedgerEntry] = []
        var idle: [IdleAccrual] = []
        var keys: [ApiKey] = []
        for change in changes {
            switch change {
            case .job(let j):
                if jobs.updateValue(j, forKey: j.id) == nil { jobOrder.append(j.id) }
            case .node(let n): nodes[n.id] = n
            case .ledger(let e): ledger.append(e)
            case .idle(let i): idle.append(i)
            case .apiKey(let k): keys.append(k)
            }
        }
        try pool.write { db in
            let jobStatement = try db.cachedStatement(sql: Self.upsertJobSQL)
            let attemptStatement = try db.cachedStatement(sql: Self.upsertAttemptSQL)
            for id in jobOrder {
                let job = jobs[id]!
                try jobStatement.execute(arguments: Self.arguments(job))
                for a in job.attempts {
                    try attemptStatement.execute(arguments: [
                        Int64(bitPattern: job.id.rawValue), Int64(a.number), a.node.rawValue, a.engine, a.state.rawValue, a.error,
                        a.assignedAt.unixMillis, a.startedAt?.unixMillis, a.finishedAt?.unixMillis,
                    ])
                }
            }
            let nodeStatement = try db.cachedStatement(sql: Self.upsertNodeSQL)
            for node in nodes.values {
                try nodeStatement.execute(arguments: [
                    node.id.rawValue, json(node.labels), json(node.inventory), json(node.engines), json(node.cost),
                    node.cordoned, node.draining, node.lastSeen.unixMillis,
                ])
            }
            let ledgerStatement = try db.cachedStatement(sql: Self.insertLedgerSQL)
            for e in ledger {
                let r = e.receipt
                try ledgerStatement.execute(arguments: [
                    Int64(bitPattern: e.job.rawValue), Int64(e.attempt), e.node.rawValue, e.engine, e.model, e.tenant,
                    e.outcome.rawValue, e.promptTokens, e.completionTokens, e.tokensEstimated, e.startedAt.unixMillis,
                    e.finishedAt.unixMillis, e.pool, r.wallMs, r.slotMs, r.busyMicros, r.energyMillijoules, r.energyMeasured,
                    r.depreciationMicroUSD, r.energyMicroUSD, r.overheadMicroUSD,
                ])
            }
            let keyStatement = try db.cachedStatement(sql: Self.upsertKeySQL)
            for k in keys {
                try keyStatement.execute(arguments: [
                    k.id, Data(k.secretHash), k.spec.tenant, k.spec.priority, json(k.spec.models), k.spec.name, k.spec.maxInflight,
                    k.createdAt.unixMillis, k.revokedAt?.unixMillis,
                ])
            }
            let idleStatement = try db.cachedStatement(sql: Self.insertIdleSQL)
            for i in idle {
                try idleStatement.execute(arguments: [
                    i.node.rawValue, i.pool, i.from.unixMillis, i.to.unixMillis, i.idleMs, i.energyMillijoules, i.energyMeasured,
                    i.depreciationMicroUSD, i.energyMicroUSD, i.overheadMicroUSD, i.outsideTokens,
                ])
            }
        }
    }

    static let upsertJobSQL = """
        INSERT INTO jobs (id, state, model, prompt, max_tokens, priority, tenant, constraints, temperature, seed, timeout_ms,
            submitted_at, started_at, first_token_at, finished_at, output, prompt_tokens, completion_tokens, tokens_estimated,
            simulated, error, kind, messages, stop, top_p, interactive, api_key_id, finish_reason)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET state = excluded.state, started_at = excluded.started_at,
            first_token_at = excluded.first_token_at, finished_at = excluded.finished_at, output = excluded.output,
            prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
            tokens_estimated = excluded.tokens_estimated, simulated = excluded.simulated, error = excluded.error,
            finish_reason = excluded.finish_reason
        """

    static let upsertKeySQL = """
        INSERT INTO api_keys (id, secret_sha256, tenant, priority, models, name, max_inflight, created_at, revoked_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET revoked_at = excluded.revoked_at
        """

    static let upsertAttemptSQL = """
        INSERT INTO attempts (job_id, number, node, engine, state, error, assigned_at, started_at, finished_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(job_id, number) DO UPDATE SET state = excluded.state, error = excluded.error,
            started_at = excluded.started_at, finished_at = excluded.finished_at
        """

    static let upsertNodeSQL = """
        INSERT INTO nodes (id, labels, inventory, engines, cost, cordoned, draining, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET labels = excluded.labels, inventory = excluded.inventory, engines = excluded.engines,
            cost = excluded.cost, cordoned = excluded.cordoned, draining = excluded.draining, last_seen = excluded.last_seen
        """

    static let insertLedgerSQL = """
        INSERT OR IGNORE INTO ledger (job_id, attempt, node, engine, model, tenant, outcome, prompt_tokens, completion_tokens,
            tokens_estimated, started_at, finished_at, pool, wall_ms, slot_ms, busy_us, energy_mj, energy_measured,
            depreciation_uusd, energy_uusd, overhead_uusd)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    static let insertIdleSQL = """
        INSERT INTO idle (node, pool, started_at, ended_at, idle_ms, energy_mj, energy_measured, depreciation_uusd,
            energy_uusd, overhead_uusd, outside_tokens)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    static func arguments(_ job: Job) -> StatementArguments {
        let s = job.spec
        let temperature: Double? = s.temperature.map { Double($0) }
        let seed: Int64? = s.seed.map { Int64(bitPattern: $0) }
        return [
            Int64(bitPattern: job.id.rawValue), job.state.rawValue, s.model, s.prompt, s.maxTokens, s.priority, s.tenant,
            labelsJSON(s.constraints), temperature, seed, s.timeoutMs,
            job.submittedAt.unixMillis, job.startedAt?.unixMillis, job.firstTokenAt?.unixMillis, job.finishedAt?.unixMillis,
            job.output, job.usage.promptTokens, job.usage.completionTokens, job.usage.estimated, job.simulated, job.error,
            s.kind.rawValue, s.kind == .chat ? s.messages : nil, s.stop.isEmpty ? nil : json(s.stop), s.topP.map { Double($0) },
            s.interactive, s.apiKeyID, job.finishReason,
        ]
    }

    /// Drops prompts and outputs of jobs that finished before `cutoff` (ledger rows and
    /// job metadata stay: they are the accounting). Returns how many jobs were pruned.
    @discardableResult
    public func pruneOutputs(finishedBefore cutoff: Timestamp) throws -> Int {
        try pool.write { db in
            try db.execute(sql: """
                UPDATE jobs SET prompt = NULL, output = NULL, messages = NULL, pruned = 1
                WHERE pruned = 0 AND finished_at IS NOT NULL AND finished_at < ?
                """, arguments: [cutoff.unixMillis])
            return db.changesCount
        }
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

func describe(_ error: any Error) -> String {
    if let e = error as? DatabaseError {
        return "\(e.message ?? "SQLite error") (SQLite code \(e.resultCode.rawValue))"
    }
    return "\(error)"
}
