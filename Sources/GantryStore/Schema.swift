import GantrySQL
import GRDB

/// The store's schema and its migrations. Each migration is applied once, in order, in a
/// transaction; GRDB records them in `grdb_migrations`.
enum Schema {
    static let migrations: [(String, @Sendable (Database) throws -> Void)] = [
        ("v1", v1),
        ("v2-cost", v2),
        ("v3-api", v3),
        ("v4-telemetry", v4),
        ("v6-history", v6),
        ("v7-unfinished-by-id", v7),
        ("v8-unfinished-without-list", v8),
    ]

    static var current: String { migrations.last!.0 }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        for (name, body) in migrations { m.registerMigration(name, migrate: body) }
        return m
    }

    /// Jobs, attempts, nodes and the usage ledger.
    static func v1(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE jobs (
                id INTEGER PRIMARY KEY,
                state TEXT NOT NULL,
                model TEXT NOT NULL,
                prompt TEXT,
                max_tokens INTEGER NOT NULL,
                priority INTEGER NOT NULL,
                tenant TEXT NOT NULL,
                constraints TEXT NOT NULL,
                temperature REAL,
                seed INTEGER,
                timeout_ms INTEGER NOT NULL,
                submitted_at INTEGER NOT NULL,
                started_at INTEGER,
                first_token_at INTEGER,
                finished_at INTEGER,
                output TEXT,
                prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL,
                tokens_estimated INTEGER NOT NULL,
                simulated INTEGER NOT NULL,
                error TEXT,
                pruned INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX jobs_unfinished ON jobs(state) WHERE state IN ('queued', 'assigned', 'running');
            CREATE INDEX jobs_finished_at ON jobs(finished_at);
            CREATE TABLE attempts (
                job_id INTEGER NOT NULL,
                number INTEGER NOT NULL,
                node TEXT NOT NULL,
                engine TEXT NOT NULL,
                state TEXT NOT NULL,
                error TEXT,
                assigned_at INTEGER NOT NULL,
                started_at INTEGER,
                finished_at INTEGER,
                PRIMARY KEY (job_id, number)
            ) WITHOUT ROWID;
            CREATE TABLE nodes (
                id TEXT PRIMARY KEY,
                labels TEXT NOT NULL,
                inventory TEXT NOT NULL,
                engines TEXT NOT NULL,
                cost TEXT NOT NULL,
                cordoned INTEGER NOT NULL,
                draining INTEGER NOT NULL,
                last_seen INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE ledger (
                job_id INTEGER NOT NULL,
                attempt INTEGER NOT NULL,
                node TEXT NOT NULL,
                engine TEXT NOT NULL,
                model TEXT NOT NULL,
                tenant TEXT NOT NULL,
                outcome TEXT NOT NULL,
                prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL,
                tokens_estimated INTEGER NOT NULL,
                started_at INTEGER NOT NULL,
                finished_at INTEGER NOT NULL,
                PRIMARY KEY (job_id, attempt)
            ) WITHOUT ROWID;
            CREATE INDEX ledger_finished_at ON ledger(finished_at);
            """)
    }

    /// Cost and energy: each ledger row becomes a receipt, and idle cost gets its own table.
    /// Rows written before this migration carry zero cost.
    static func v2(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE ledger ADD COLUMN pool TEXT NOT NULL DEFAULT '';
            ALTER TABLE ledger ADD COLUMN wall_ms INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE ledger ADD COLUMN slot_ms INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE ledger ADD COLUMN busy_us INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE ledger ADD COLUMN energy_mj INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE ledger ADD COLUMN energy_measured INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE ledger ADD COLUMN depreciation_uusd INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE ledger ADD COLUMN energy_uusd INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE ledger ADD COLUMN overhead_uusd INTEGER NOT NULL DEFAULT 0;
            CREATE TABLE idle (
                node TEXT NOT NULL,
                pool TEXT NOT NULL,
                started_at INTEGER NOT NULL,
                ended_at INTEGER NOT NULL,
                idle_ms INTEGER NOT NULL,
                energy_mj INTEGER NOT NULL,
                energy_measured INTEGER NOT NULL,
                depreciation_uusd INTEGER NOT NULL,
                energy_uusd INTEGER NOT NULL,
                overhead_uusd INTEGER NOT NULL
            );
            CREATE INDEX idle_ended_at ON idle(ended_at);
            """)
    }

    /// The OpenAI-compatible API: chat jobs and their sampling parameters, live requests,
    /// the API key a job came with, the engine's finish reason, and API keys (their SHA-256,
    /// never the key).
    static func v3(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'completion';
            ALTER TABLE jobs ADD COLUMN messages TEXT;
            ALTER TABLE jobs ADD COLUMN stop TEXT;
            ALTER TABLE jobs ADD COLUMN top_p REAL;
            ALTER TABLE jobs ADD COLUMN interactive INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE jobs ADD COLUMN api_key_id TEXT;
            ALTER TABLE jobs ADD COLUMN finish_reason TEXT;
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                secret_sha256 BLOB NOT NULL,
                tenant TEXT NOT NULL,
                priority INTEGER NOT NULL,
                models TEXT NOT NULL,
                name TEXT NOT NULL,
                max_inflight INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                revoked_at INTEGER
            ) WITHOUT ROWID;
            """)
    }

    /// Engine telemetry: tokens a node's engines made outside Gantry, with its idle accruals.
    static func v4(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE idle ADD COLUMN outside_tokens INTEGER NOT NULL DEFAULT 0")
    }

    /// The dashboard's per-minute rollups, filled from the records already there. (v5 is
    /// PostgreSQL's leader lease; the names match across backends.)
    static func v6(_ db: Database) throws {
        try db.execute(sql: StoreRollups.createTable)
        try db.execute(sql: StoreRollups.backfill)
    }

    /// The unfinished jobs' index holds their ids, in order, so a restart reads them in
    /// the order it needs without sorting a million rows (it was an index on their state,
    /// which SQLite read and then sorted by id in a temporary B-tree).
    static func v7(_ db: Database) throws {
        try db.execute(sql: StoreReads.unfinishedIndex)
    }

    /// The same index with its condition spelt as comparisons (see `StoreReads.unfinished`):
    /// a third less SQLite CPU per job written.
    static func v8(_ db: Database) throws {
        try db.execute(sql: StoreReads.unfinishedIndexWithoutList)
    }
}
