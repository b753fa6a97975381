import Foundation
import GRDB
import GantryPersistence
import GantryRuntime
import GantrySQL
import GantryModel
@testable import GantryStore
import Synchronization
import Testing

/// A fresh state directory per test.
final class StateDir: @unchecked Sendable {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-store-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func sampleJob(_ n: UInt64, state: JobState = .queued, node: String? = nil) -> Job {
    var job = Job(
        id: JobID(rawValue: 1_000_000 + n),
        spec: JobSpec(model: "m", prompt: "prompt \(n)", maxTokens: 16, priority: 2, tenant: "t", constraints: ["pool": "h200"], temperature: 0.5, seed: 7),
        submittedAt: Timestamp(unixMillis: 1_764_000_000_000))
    job.state = state
    if let node {
        job.attempts = [Attempt(number: 1, node: NodeID(node)!, engine: "e", state: state == .succeeded ? .succeeded : .running, assignedAt: job.submittedAt)]
    }
    return job
}

@Suite("Store")
struct StoreTests {
    @Test("an empty file is migrated to the current schema; reopening applies nothing twice")
    func migrateEmpty() throws {
        let dir = try StateDir()
        let store = try Store.open(stateDir: dir.path, minFreeBytes: 0)
        #expect(try store.appliedMigrations() == ["v1", "v2-cost", "v3-api", "v4-telemetry", "v6-history", "v7-unfinished-by-id", "v8-unfinished-without-list"])
        let again = try Store.open(stateDir: dir.path, minFreeBytes: 0)
        #expect(try again.appliedMigrations() == ["v1", "v2-cost", "v3-api", "v4-telemetry", "v6-history", "v7-unfinished-by-id", "v8-unfinished-without-list"])
        #expect(try again.check().ok)
    }

    @Test("the writer fsyncs every commit (synchronous = FULL survives DatabasePool's switch to WAL)")
    func synchronousFull() throws {
        let dir = try StateDir()
        #expect(try Store.open(stateDir: dir.path, minFreeBytes: 0).writerSynchronous() == 2)
        #expect(try Store.open(stateDir: dir.path, minFreeBytes: 0).writerSynchronous() == 2)
    }

    @Test("writes bind every kind of value as itself: empty text is '' (not NULL), empty bytes a blob; a failing row throws")
    func binding() throws {
        let dir = try StateDir()
        let store = try Store.open(stateDir: dir.path, minFreeBytes: 0)
        var job = sampleJob(1)
        job.spec.prompt = ""
        job.spec.temperature = nil
        job.output = "héllo ✓"
        let key = ApiKey(
            id: "k", spec: ApiKeySpec(tenant: "", priority: 1, models: [], name: "n", maxInflight: 0), secretHash: [], createdAt: Timestamp(unixMillis: 3))
        try store.apply([.job(job), .apiKey(key)])
        let db = try DatabaseQueue(path: dir.path + "/" + Store.fileName)
        let row = try db.read { try Row.fetchOne($0, sql: "SELECT typeof(prompt), prompt, typeof(temperature), output, typeof(seed), seed FROM jobs")! }
        #expect(row[0] as String == "text")
        #expect(row[1] as String == "")
        #expect(row[2] as String == "null")
        #expect(row[3] as String == "héllo ✓")
        #expect(row[4] as String == "integer")
        #expect(row[5] as Int64 == 7)
        let keyRow = try db.read { try Row.fetchOne($0, sql: "SELECT typeof(secret_sha256), length(secret_sha256), typeof(tenant) FROM api_keys")! }
        #expect(keyRow[0] as String == "blob")
        #expect(keyRow[1] as Int == 0)
        #expect(keyRow[2] as String == "text")
        #expect(try store.job(job.id) == job)
        // A row SQLite refuses (here by a trigger) fails the whole batch with SQLite's
        // error, and nothing of it is written.
        try db.write { try $0.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON jobs WHEN NEW.id = 1000003 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END") }
        let other = sampleJob(2)
        #expect { try store.apply([.job(other), .job(sampleJob(3))]) } throws: { ($0 as? DatabaseError)?.message == "refused by the test" }
        #expect(try store.job(other.id) == nil)
        try db.write { try $0.execute(sql: "DROP TRIGGER refuse") }
        // The statement is usable again after the failure.
        try store.apply([.job(other)])
        #expect(try store.job(other.id) == other)
    }

    @Test("a schema written by a newer gantryd is refused, naming it")
    func newerSchema() throws {
        let dir = try StateDir()
        _ = try Store.open(stateDir: dir.path, minFreeBytes: 0)
        let db = try DatabaseQueue(path: dir.path + "/" + Store.fileName)
        try db.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99')") }
        do {
            _ = try Store.open(stateDir: dir.path, minFreeBytes: 0)
            Issue.record("opened")
        } catch {
            #expect(error.message.contains("'v99'"))
            #expect(error.message.contains("newer version"))
        }
    }

    @Test("group commit: many submissions become few transactions, all durable, acknowledged in order")
    func groupCommit() async throws {
        let dir = try StateDir()
        let store = try Store.open(stateDir: dir.path, minFreeBytes: 0)
        let committed = Recorder()
        let writer = GroupCommit<StoreChange> { try store.apply($0) }
        let submissions = 2000
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await writer.run(committed: { committed.add($0) }, failed: { Issue.record("\($0)") }) }
            await withTaskGroup(of: Void.self) { submitters in
                for t in 0..<4 {
                    submitters.addTask {
                        for i in 0..<(submissions / 4) {
                            writer.submit([.job(sampleJob(UInt64(t * 100_000 + i)))])
                        }
                    }
                }
            }
            writer.finish()
        }
        let seen = committed.values
        #expect(seen.last == UInt64(submissions))
        #expect(seen == seen.sorted())
        #expect(writer.stats.transactions < submissions / 2, "\(writer.stats.transactions) transactions")
        #expect(writer.stats.largestBatch > 1)
        #expect(try store.count("jobs") == submissions)
    }

    @Test("group commit: more than maxBatch queued is written in batches of maxBatch, the last one reporting the sequence number")
    func groupCommitSplits() async {
        let batches = Mutex<[[Int]]>([])
        let writer = GroupCommit<Int>(maxBatch: 3) { batch in batches.withLock { $0.append(batch) } }
        writer.submit([1, 2])
        writer.submit([3, 4, 5, 6, 7])
        writer.finish()
        let committed = Recorder()
        await writer.run(committed: { committed.add($0) }, failed: { Issue.record("\($0)") })
        #expect(batches.withLock { $0 } == [[1, 2, 3], [4, 5, 6], [7]])
        #expect(committed.values == [2])
        #expect(writer.stats.changes == 7 && writer.stats.largestBatch == 3 && writer.stats.transactions == 3)
    }

    @Test("batch inbox: items from concurrent producers all arrive, each producer's in order, in fewer wake-ups than items")
    func batchInbox() async {
        let inbox = BatchInbox<(producer: Int, n: Int)>()
        let producers = 4, each = 2_000
        let consumer = Task {
            var got: [(producer: Int, n: Int)] = []
            var wakeUps = 0
            for await _ in inbox.signals {
                wakeUps += 1
                got += inbox.drain()
                if got.count == producers * each { break }
            }
            return (got, wakeUps)
        }
        await withTaskGroup(of: Void.self) { group in
            for p in 0..<producers {
                group.addTask { for n in 0..<each { inbox.post((p, n)) } }
            }
        }
        let (got, wakeUps) = await consumer.value
        #expect(got.count == producers * each)
        for p in 0..<producers { #expect(got.filter { $0.producer == p }.map(\.n) == Array(0..<each)) }
        #expect(wakeUps < producers * each, "\(wakeUps) wake-ups")
        #expect(inbox.drain().isEmpty)
    }

    @Test("a failed write is reported and nothing after it is acknowledged")
    func writeFailure() async throws {
        let dir = try StateDir()
        let store = try Store.open(stateDir: dir.path, minFreeBytes: 0)
        let committed = Recorder()
        let failures = Recorder()
        let writer = GroupCommit<StoreChange> { try store.apply($0) }
        var bad = sampleJob(1)
        bad.attempts = [Attempt(number: 1, node: NodeID("n")!, engine: "e", assignedAt: .zero)]
        // Make the attempts table refuse writes.
        let db = try DatabaseQueue(path: dir.path + "/" + Store.fileName)
        try await db.write { try $0.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON attempts BEGIN SELECT RAISE(ABORT, 'disk says no'); END") }
        writer.submit([.job(bad)])
        writer.submit([.job(sampleJob(2))])
        writer.finish()
        await writer.run(committed: { committed.add($0) }, failed: { _ in failures.add(1) })
        #expect(failures.values == [1])
        #expect(committed.values.isEmpty)
    }
}

final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [UInt64] = []
    func add(_ v: UInt64) { lock.lock(); items.append(v); lock.unlock() }
    var values: [UInt64] { lock.lock(); defer { lock.unlock() }; return items }
}

@Suite("Store query plans")
struct QueryPlanTests {
    /// A partial index serves only a query whose WHERE repeats its condition word for
    /// word; a restart reads a million unfinished jobs through it.
    @Test("a restart and --check-state read the unfinished jobs through their partial index")
    func unfinishedThroughIndex() throws {
        let dir = try StateDir()
        let store = try Store.open(stateDir: dir.path, minFreeBytes: 0)
        let restore = StoreReads.restoreSelections(finishedLimit: 10)[0]
        for sql in [restore.jobs.sql, restore.ids, "SELECT count(*) FROM jobs WHERE \(StoreReads.unfinished)"] {
            let plan = try store.pool.read { db in try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String } }
            #expect(plan.contains { $0.contains("INDEX jobs_unfinished") }, "\(sql): \(plan)")
        }
    }
}

@Suite("Store migrations")
struct MigrationTests {
    @Test("a store at the previous schema (v1) migrates to the current one, keeping its rows")
    func fromPrevious() throws {
        let dir = try StateDir()
        // Write a v1 store, as the previous gantryd would have.
        let queue = try DatabaseQueue(path: dir.path + "/" + Store.fileName)
        var v1 = DatabaseMigrator()
        v1.registerMigration("v1", migrate: StoreSchemaV1.migrate)
        try v1.migrate(queue)
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO ledger (job_id, attempt, node, engine, model, tenant, outcome, prompt_tokens, completion_tokens,
                    tokens_estimated, started_at, finished_at)
                VALUES (42, 1, 'n1', 'e', 'm', 't', 'succeeded', 3, 16, 0, 1, 2)
                """)
        }
        try queue.close()
        let store = try Store.open(stateDir: dir.path, minFreeBytes: 0)
        #expect(try store.appliedMigrations() == ["v1", "v2-cost", "v3-api", "v4-telemetry", "v6-history", "v7-unfinished-by-id", "v8-unfinished-without-list"])
        let ledger = try store.ledger()
        #expect(ledger.count == 1)
        #expect(ledger[0].completionTokens == 16)
        #expect(ledger[0].receipt.totalMicroUSD == 0)  // rows from before costs existed carry none
        #expect(ledger[0].pool == "")
        #expect(try store.check().ok)
        #expect(try store.idleAccruals() == 0)
    }
}
