public import GantryPersistence
public import GantryModel
import GantryAccounting
import GantrySQL
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
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: config)
            // FULL: a commit is fsynced before it is acknowledged. WAL: readers never block
            // the writer. Set here, not in prepareDatabase: DatabasePool switches its
            // writer to WAL after that and sets synchronous = NORMAL as it does, which
            // fsyncs only at checkpoints (a power loss could take acknowledged commits).
            if !readOnly {
                try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
            }
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

    /// The writer connection's `PRAGMA synchronous` (2: FULL, a sync per commit).
    func writerSynchronous() throws -> Int {
        try pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 }
    }

    // MARK: writes

    /// Applies changes in one transaction. Several versions of one job or node in the
    /// batch are coalesced to the last; ledger rows are inserted once.
    public func apply(_ changes: [StoreChange]) throws {
        let writes = StoreWrites.writes(changes)
        try pool.write { db in
            for write in writes {
                switch write {
                case .insert(let insert):
                    try db.cachedStatement(sql: insert.oneRow).execute(rows: insert.rows, in: db)
                case .update(let update):
                    try db.cachedStatement(sql: update.oneRow).execute(rows: update.rows, in: db, updateKey: update.key.count)
                }
            }
        }
    }

    /// Drops prompts and outputs of jobs that finished before `cutoff` (ledger rows and
    /// job metadata stay: they are the accounting). Returns how many jobs were pruned.
    @discardableResult
    public func pruneOutputs(finishedBefore cutoff: Timestamp) throws -> Int {
        let prune = StoreWrites.prune(finishedBefore: cutoff)
        return try pool.write { db in
            try db.execute(sql: prune.sql, arguments: prune.arguments.arguments)
            return db.changesCount
        }
    }
}

func describe(_ error: any Error) -> String {
    if let e = error as? DatabaseError {
        return "\(e.message ?? "SQLite error") (SQLite code \(e.resultCode.rawValue))"
    }
    return "\(error)"
}
