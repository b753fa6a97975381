import GantrySQL

/// The store's schema on PostgreSQL: the same tables, columns and migrations as on SQLite
/// (`GantryStore.Schema`), in PostgreSQL's types (`BIGINT` for integers, booleans and
/// Unix-millisecond times; `BYTEA`; `DOUBLE PRECISION`), plus the leader lease. Applied
/// once each, in order, under an advisory lock, so gantryds starting together do not race.
enum PostgresSchema {
    static let migrations: [(String, String)] = [
        ("v1", """
            CREATE TABLE jobs (
                id BIGINT PRIMARY KEY,
                state TEXT NOT NULL,
                model TEXT NOT NULL,
                prompt TEXT,
                max_tokens BIGINT NOT NULL,
                priority BIGINT NOT NULL,
                tenant TEXT NOT NULL,
                constraints TEXT NOT NULL,
                temperature DOUBLE PRECISION,
                seed BIGINT,
                timeout_ms BIGINT NOT NULL,
                submitted_at BIGINT NOT NULL,
                started_at BIGINT,
                first_token_at BIGINT,
                finished_at BIGINT,
                output TEXT,
                prompt_tokens BIGINT NOT NULL,
                completion_tokens BIGINT NOT NULL,
                tokens_estimated BIGINT NOT NULL,
                simulated BIGINT NOT NULL,
                error TEXT,
                pruned BIGINT NOT NULL DEFAULT 0
            );
            CREATE INDEX jobs_unfinished ON jobs(state) WHERE state IN ('queued', 'assigned', 'running');
            CREATE INDEX jobs_finished_at ON jobs(finished_at);
            CREATE TABLE attempts (
                job_id BIGINT NOT NULL,
                number BIGINT NOT NULL,
                node TEXT NOT NULL,
                engine TEXT NOT NULL,
                state TEXT NOT NULL,
                error TEXT,
                assigned_at BIGINT NOT NULL,
                started_at BIGINT,
                finished_at BIGINT,
                PRIMARY KEY (job_id, number)
            );
            CREATE TABLE nodes (
                id TEXT PRIMARY KEY,
                labels TEXT NOT NULL,
                inventory TEXT NOT NULL,
                engines TEXT NOT NULL,
                cost TEXT NOT NULL,
                cordoned BIGINT NOT NULL,
                draining BIGINT NOT NULL,
                last_seen BIGINT NOT NULL
            );
            CREATE TABLE ledger (
                job_id BIGINT NOT NULL,
                attempt BIGINT NOT NULL,
                node TEXT NOT NULL,
                engine TEXT NOT NULL,
                model TEXT NOT NULL,
                tenant TEXT NOT NULL,
                outcome TEXT NOT NULL,
                prompt_tokens BIGINT NOT NULL,
                completion_tokens BIGINT NOT NULL,
                tokens_estimated BIGINT NOT NULL,
                started_at BIGINT NOT NULL,
                finished_at BIGINT NOT NULL,
                PRIMARY KEY (job_id, attempt)
            );
            CREATE INDEX ledger_finished_at ON ledger(finished_at);
            """),
        ("v2-cost", """
            ALTER TABLE ledger ADD COLUMN pool TEXT NOT NULL DEFAULT '',
                ADD COLUMN wall_ms BIGINT NOT NULL DEFAULT 0,
                ADD COLUMN slot_ms BIGINT NOT NULL DEFAULT 0,
                ADD COLUMN busy_us BIGINT NOT NULL DEFAULT 0,
                ADD COLUMN energy_mj BIGINT NOT NULL DEFAULT 0,
                ADD COLUMN energy_measured BIGINT NOT NULL DEFAULT 0,
                ADD COLUMN depreciation_uusd BIGINT NOT NULL DEFAULT 0,
                ADD COLUMN energy_uusd BIGINT NOT NULL DEFAULT 0,
                ADD COLUMN overhead_uusd BIGINT NOT NULL DEFAULT 0;
            CREATE TABLE idle (
                node TEXT NOT NULL,
                pool TEXT NOT NULL,
                started_at BIGINT NOT NULL,
                ended_at BIGINT NOT NULL,
                idle_ms BIGINT NOT NULL,
                energy_mj BIGINT NOT NULL,
                energy_measured BIGINT NOT NULL,
                depreciation_uusd BIGINT NOT NULL,
                energy_uusd BIGINT NOT NULL,
                overhead_uusd BIGINT NOT NULL
            );
            CREATE INDEX idle_ended_at ON idle(ended_at);
            """),
        ("v3-api", """
            ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'completion',
                ADD COLUMN messages TEXT,
                ADD COLUMN stop TEXT,
                ADD COLUMN top_p DOUBLE PRECISION,
                ADD COLUMN interactive BIGINT NOT NULL DEFAULT 0,
                ADD COLUMN api_key_id TEXT,
                ADD COLUMN finish_reason TEXT;
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                secret_sha256 BYTEA NOT NULL,
                tenant TEXT NOT NULL,
                priority BIGINT NOT NULL,
                models TEXT NOT NULL,
                name TEXT NOT NULL,
                max_inflight BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                revoked_at BIGINT
            );
            """),
        ("v4-telemetry", "ALTER TABLE idle ADD COLUMN outside_tokens BIGINT NOT NULL DEFAULT 0"),
        // High availability: one leader at a time. The epoch only grows: every write
        // transaction of a leader checks it (the fencing token).
        ("v5-ha", """
            CREATE TABLE gantry_leader (
                id INT PRIMARY KEY CHECK (id = 1),
                holder TEXT NOT NULL,
                address TEXT NOT NULL,
                epoch BIGINT NOT NULL,
                expires_at TIMESTAMPTZ NOT NULL
            );
            INSERT INTO gantry_leader VALUES (1, '', '', 0, 'epoch');
            CREATE TABLE gantry_instances (
                id TEXT PRIMARY KEY,
                address TEXT NOT NULL,
                seen_at TIMESTAMPTZ NOT NULL
            );
            """),
        // The dashboard's per-minute rollups, filled from the records already there.
        ("v6-history", StoreRollups.createTable + ";\n" + StoreRollups.backfill),
        // The unfinished jobs' index holds their ids, in order (a restart reads them so).
        ("v7-unfinished-by-id", StoreReads.unfinishedIndex),
        // The same condition as SQLite's, where an IN list is costly (the queries share it).
        ("v8-unfinished-without-list", StoreReads.unfinishedIndexWithoutList),
    ]

    static var current: String { migrations.last!.0 }
}
