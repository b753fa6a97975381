public import GantryModel
public import GantryAccounting
public import GantryPersistence
public import Logging
public import GantrySQL
import NIOConcurrencyHelpers
import NIOCore
public import PostgresNIO

/// The coordinator's durable state on PostgreSQL, for high availability: any number of
/// gantryds may point at one database, and the one that holds the lease (`LeaderLease`)
/// writes. Every write transaction checks the writer's epoch against the lease row, under a
/// share lock, in the same transaction: a leader that lost its lease (it was paused, or cut
/// off, and another took over) commits nothing.
///
/// The client must be running (`run()`, a ServiceLifecycle service) for any call to finish.
public final class PostgresStore: CoordinatorStore, Sendable {
    public let client: PostgresClient
    let logger: Logger
    /// Where the state lives, without the password.
    public let location: String
    /// The epoch this gantryd writes as; nil until it leads (and writes are then refused).
    private let epochBox = NIOLockedValueBox<Int64?>(nil)

    public init(_ url: PostgresURL, password: String?, logger: Logger) {
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: password, database: url.database, tls: .disable)
        configuration.options.minimumConnections = 1
        configuration.options.maximumConnections = 8
        configuration.options.connectTimeout = .seconds(5)
        // The pool's own chatter (each failed connection attempt) stays out of the log; the
        // store's callers say what failed.
        self.client = PostgresClient(configuration: configuration, backgroundLogger: Logger(label: "gantry.postgres") { _ in SwiftLogNoOpLogHandler() })
        self.logger = logger
        self.location = url.description
    }

    /// The epoch every write is fenced with (set when this gantryd becomes the leader).
    public var epoch: Int64? {
        get { epochBox.withLockedValue { $0 } }
        set { epochBox.withLockedValue { $0 = newValue } }
    }

    // MARK: schema

    /// Creates or upgrades the schema, once, whoever else starts at the same time. Refuses
    /// a schema a newer gantryd wrote.
    public func migrate() async throws {
        try await transaction { connection in
            // One migrator at a time (the key is arbitrary but fixed: "gantry" in ASCII).
            try await connection.query("SELECT pg_advisory_xact_lock(103971162580345)", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS gantry_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger: logger)
            var applied: [String] = []
            for try await name in try await connection.query("SELECT name FROM gantry_migrations ORDER BY applied_at, name", logger: logger)
                .decode(String.self)
            {
                applied.append(name)
            }
            let known = PostgresSchema.migrations.map(\.0)
            if let unknown = applied.first(where: { !known.contains($0) }) {
                throw GantryError(
                    .internal,
                    "the database \(location) has schema migration '\(unknown)', which this gantryd does not know (a newer version wrote it); refusing to start")
            }
            for (name, body) in PostgresSchema.migrations where !applied.contains(name) {
                for statement in Self.statements(body) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO gantry_migrations (name) VALUES (\(name))", logger: logger)
                logger.info("applied a schema migration", metadata: ["store": "\(location)", "migration": "\(name)"])
            }
        }
    }

    /// The migrations applied, in order.
    public func appliedMigrations() async throws -> [String] {
        var names: [String] = []
        for try await name in try await client.query("SELECT name FROM gantry_migrations ORDER BY applied_at, name", logger: logger)
            .decode(String.self)
        {
            names.append(name)
        }
        return names
    }

    /// A migration's statements (the extended protocol takes one at a time).
    static func statements(_ body: String) -> [String] {
        body.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
            .map { $0.hasSuffix(";") ? String($0.dropLast()) : $0 }
    }

    // MARK: writes

    public func apply(_ changes: [StoreChange]) async throws {
        guard let epoch else { throw GantryError(.unavailable, "this gantryd is not the leader; it writes nothing") }
        let writes = StoreWrites.writes(changes)
        try await transaction { connection in
            try await Self.checkEpoch(epoch, on: connection, logger: logger)
            for write in writes {
                switch write {
                case .insert(let insert): try await Self.run(insert, on: connection, logger: logger)
                case .update(let update): try await Self.run(update, on: connection, logger: logger)
                }
            }
        }
    }

    /// Runs `body` in a transaction; an error `body` threw comes out as itself (postgres-nio
    /// wraps it).
    func transaction<R: Sendable>(_ body: (PostgresConnection) async throws -> sending R) async throws -> R {
        do {
            return try await client.withTransaction(logger: logger, body)
        } catch let e as PostgresTransactionError {
            if let inner = e.closureError { throw inner }
            throw e
        }
    }

    /// The fencing check: the lease row's epoch, share-locked until the transaction ends,
    /// must still be this writer's. A successor's takeover (which updates the row) waits for
    /// this transaction, or this one sees the new epoch and refuses.
    static func checkEpoch(_ epoch: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        let rows = try await connection.query("SELECT epoch FROM gantry_leader WHERE id = 1 FOR SHARE", logger: logger).decode(Int64.self)
        var current: Int64 = -1
        for try await e in rows { current = e }
        guard current == epoch else { throw FencedError(mine: epoch, current: current) }
    }

    /// Rows per statement (PostgreSQL binds at most 65,535 parameters a statement).
    static let rowsPerStatement = 1000

    static func run(_ insert: SQLInsert, on connection: PostgresConnection, logger: Logger) async throws {
        try await inChunks(insert.rows, columns: insert.columns) { count, bindings in
            try await connection.query(PostgresQuery(unsafeSQL: insert.manyRows(count), binds: bindings), logger: logger)
        }
    }

    /// Rows known to exist; one that is missing fails the transaction.
    static func run(_ update: SQLUpdate, on connection: PostgresConnection, logger: Logger) async throws {
        try await inChunks(update.rows, columns: update.columns) { count, bindings in
            let returned = try await connection.query(PostgresQuery(unsafeSQL: update.manyRows(count), binds: bindings), logger: logger)
            var updated = 0
            for try await _ in returned { updated += 1 }
            guard updated == count else {
                throw GantryError(.internal, "an update of \(update.table) found \(updated) of its \(count) rows: the store lacks what gantryd wrote before")
            }
        }
    }

    /// `rows` a thousand at a time, each chunk's values bound in order for `body`.
    static func inChunks(
        _ rows: [[SQLValue]], columns: Int, _ body: (_ count: Int, _ bindings: PostgresBindings) async throws -> Void
    ) async throws {
        for start in stride(from: 0, to: rows.count, by: rowsPerStatement) {
            let chunk = rows[start..<min(start + rowsPerStatement, rows.count)]
            var bindings = PostgresBindings(capacity: chunk.count * columns)
            for row in chunk {
                for value in row { bind(value, into: &bindings) }
            }
            try await body(chunk.count, bindings)
        }
    }

    public func pruneHistory(before cutoff: Timestamp) async throws -> Int {
        try await prune(StoreRollups.prune(before: cutoff))
    }

    public func pruneOutputs(finishedBefore cutoff: Timestamp) async throws -> Int {
        try await prune(StoreWrites.prune(finishedBefore: cutoff))
    }

    /// Runs a pruning statement in a fenced transaction; how many rows it touched.
    func prune(_ statement: SQLStatement) async throws -> Int {
        guard let epoch else { return 0 }
        return try await transaction { connection in
            try await Self.checkEpoch(epoch, on: connection, logger: logger)
            let rows = try await connection.query(Self.query(SQLStatement(statement.sql + " RETURNING 1", statement.arguments)), logger: logger)
            var n = 0
            for try await _ in rows { n += 1 }
            return n
        }
    }

    // MARK: reads

    public func restoredState() async throws -> RestoredState {
        let nodes = try await rows(SQLStatement("SELECT \(StoreReads.nodeColumns) FROM nodes")).compactMap(StoreReads.node)
        var counts: [JobState: Int] = [:]
        for row in try await rows(SQLStatement(StoreReads.countsByState)) {
            if let state = JobState(rawValue: row.string(0)) { counts[state] = row.int(1) }
        }
        let keys = try await rows(SQLStatement("SELECT \(StoreReads.keyColumns) FROM api_keys")).map(StoreReads.apiKey)
        return RestoredState(nodes: nodes, counts: counts, apiKeys: keys)
    }

    public func restoreJobs(finishedLimit: Int, deliver: @Sendable ([Job]) -> Void) async throws {
        for selection in StoreReads.restoreSelections(finishedLimit: finishedLimit) {
            var batches = StoreReads.Batches()
            let (attempts, ledger) = StoreReads.related(of: selection.ids)
            for row in try await rows(attempts) { batches.related.addAttempt(row) }
            for row in try await rows(ledger) { batches.related.addLedger(row) }
            for try await row in try await client.query(Self.query(selection.jobs), logger: logger) {
                batches.add(Self.values(row), deliver: deliver)
            }
            batches.flush(deliver: deliver)
        }
    }

    public func answer(_ query: StoreQuery) async throws -> StoreAnswer {
        switch query {
        case .job(let id):
            return .job(try await fetchJobs(StoreReads.jobs("WHERE id = ?", [.integer(Int64(bitPattern: id.rawValue))])).first)
        case .jobs(let filter):
            let (rest, arguments) = StoreReads.listing(filter)
            return .jobs(try await fetchJobs(StoreReads.jobs(rest, arguments)))
        case .report(let by, var from, let to, _, _):
            if from.unixMillis == 0, let first = try await rows(StoreReport.firstRecord).first?.int64OrNil(0) {
                from = Timestamp(unixMillis: first)
            }
            return .report(StoreReport.assemble(
                by: by, from: from, to: to, receipts: try await rows(StoreReport.receipts(by: by, from: from, to: to)),
                idle: try await rows(StoreReport.idle(by: by, from: from, to: to))))
        case .history(let q):
            return .history(StoreRollups.assemble(q, rows: try await rows(StoreRollups.select(q))))
        }
    }

    /// Every ledger row, in job order (for checks and `migrate`).
    public func ledger() async throws -> [LedgerEntry] {
        try await rows(StoreReads.allLedger).compactMap(StoreReads.ledgerEntry)
    }

    /// Every idle accrual, oldest first.
    public func idle() async throws -> [IdleAccrual] {
        try await rows(StoreReads.allIdle).compactMap(StoreReads.idle)
    }

    public func count(_ table: String) async throws -> Int {
        try await rows(SQLStatement("SELECT count(*) FROM \(table)")).first?.int(0) ?? 0
    }

    func fetchJobs(_ statement: SQLStatement) async throws -> [Job] {
        var jobs = try await rows(statement).compactMap(StoreReads.job)
        var related = StoreReads.Related()
        for (attempts, ledger) in StoreReads.related(of: jobs.map { Int64(bitPattern: $0.id.rawValue) }) {
            for row in try await rows(attempts) { related.addAttempt(row) }
            for row in try await rows(ledger) { related.addLedger(row) }
        }
        for i in jobs.indices { related.complete(&jobs[i]) }
        return jobs
    }

    /// Runs a statement of the shared mapping and reads every row.
    public func rows(_ statement: SQLStatement) async throws -> [ValuesRow] {
        var out: [ValuesRow] = []
        for try await row in try await client.query(Self.query(statement), logger: logger) {
            out.append(Self.values(row))
        }
        return out
    }

    // MARK: mapping

    /// `?` placeholders become `$1, $2, …` (the shared statements hold no `?` in literals).
    static func query(_ statement: SQLStatement) -> PostgresQuery {
        var sql = ""
        sql.reserveCapacity(statement.sql.utf8.count + 16)
        var n = 0
        for c in statement.sql {
            if c == "?" {
                n += 1
                sql += "$\(n)"
            } else {
                sql.append(c)
            }
        }
        var bindings = PostgresBindings(capacity: statement.arguments.count)
        for value in statement.arguments { bind(value, into: &bindings) }
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    static func bind(_ value: SQLValue, into bindings: inout PostgresBindings) {
        switch value {
        case .null: bindings.appendNull()
        case .integer(let v): bindings.append(v)
        case .real(let d): bindings.append(d)
        case .text(let s): bindings.append(s)
        case .blob(let b): bindings.append(ByteBuffer(bytes: b))
        }
    }

    static func values(_ row: PostgresRow) -> ValuesRow {
        var values: [SQLValue] = []
        for cell in row {
            guard cell.bytes != nil else {
                values.append(.null)
                continue
            }
            switch cell.dataType {
            case .int8, .int4, .int2: values.append((try? cell.decode(Int64.self)).map { .integer($0) } ?? .null)
            case .bool: values.append((try? cell.decode(Bool.self)).map { .integer($0 ? 1 : 0) } ?? .null)
            case .float8, .float4: values.append((try? cell.decode(Double.self)).map { .real($0) } ?? .null)
            case .bytea: values.append((try? cell.decode(ByteBuffer.self)).map { .blob(Array(buffer: $0)) } ?? .null)
            default: values.append((try? cell.decode(String.self)).map { .text($0) } ?? .null)
            }
        }
        return ValuesRow(values)
    }
}

/// A write by a gantryd whose epoch is no longer the lease's: another took over.
public struct FencedError: Error, CustomStringConvertible {
    public var mine: Int64
    public var current: Int64
    public var description: String {
        "this gantryd is no longer the leader: it writes as epoch \(mine), the lease is at epoch \(current); it commits nothing and steps down"
    }
}
