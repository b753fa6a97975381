import Foundation
import GantryAccounting
import GantryModel
import GantryPersistence
import GantryPostgres
import GantryStore
import GantryTestSupport
import Logging
import Synchronization
import Testing

/// The store interface's contract, run against both backends: SQLite in a fresh state
/// directory, and PostgreSQL in a fresh database on scripts/test's server.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }

    /// Runs `body` with a fresh store of this kind (a PostgreSQL one leading at epoch 1).
    func withStore(_ body: (any TestStore) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            let dir = try StateDir()
            try await body(try Store.open(stateDir: dir.path, minFreeBytes: 0))
        case .postgres:
            let store = try await Self.postgres()
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await store.client.run() }
                do {
                    try await store.migrate()
                    let lease = LeaderLease(store: store, instance: "test", address: "127.0.0.1:1", ttlMs: 60_000)
                    store.epoch = try await lease.acquire()
                    try await body(store)
                } catch {
                    group.cancelAll()
                    throw error
                }
                group.cancelAll()
            }
        }
    }

    static func postgres() async throws -> PostgresStore {
        let url = try PostgresURL(parsing: try TestPostgres.freshDatabase())
        return PostgresStore(url, password: TestPostgres.password, logger: Logger(label: "test"))
    }

    /// PostgreSQL only when scripts/test's server is there (or required).
    static var available: [Backend] { TestPostgres.enabled ? allCases : [.sqlite] }
}

/// What the tests read besides the interface.
protocol TestStore: CoordinatorStore {
    func ledgerEntries() async throws -> [LedgerEntry]
}

extension Store: TestStore {
    func ledgerEntries() async throws -> [LedgerEntry] { try ledger() }
}

extension PostgresStore: TestStore {
    func ledgerEntries() async throws -> [LedgerEntry] { try await ledger() }
}

extension CoordinatorStore {
    func job(_ id: JobID) async throws -> Job? {
        guard case .job(let j) = try await answer(.job(id)) else { return nil }
        return j
    }

    func jobs(_ filter: JobFilter) async throws -> [Job] {
        guard case .jobs(let js) = try await answer(.jobs(filter)) else { return [] }
        return js
    }
}

@Suite("Store backends: SQLite and PostgreSQL, one contract", .serialized)
struct BackendTests {
    @Test("jobs, attempts, nodes, keys and ledger rows round-trip; versions of one job coalesce; ledger rows are written once",
          arguments: Backend.available)
    func roundTrip(_ backend: Backend) async throws {
        try await backend.withStore { store in
            var job = sampleJob(1)
            let queued = job
            job.state = .running
            job.attempts = [Attempt(number: 1, node: NodeID("n1")!, engine: "e", state: .running, assignedAt: job.submittedAt, startedAt: job.submittedAt + 5)]
            let node = PersistedNode(
                id: NodeID("n1")!, labels: ["pool": "h200"], inventory: Inventory(hostname: "h", cpus: 4, gpus: [GPU(index: 0, uuid: "u", name: "H200", memoryBytes: 1)]),
                engines: [EngineStatus(name: "e", kind: .sim, models: ["m"], slots: 2)], cost: CostProfile(kind: .cloud, cloudMicroUSDPerHour: 5),
                cordoned: true, draining: false, lastSeen: Timestamp(unixMillis: 9))
            let entry = LedgerEntry(
                job: job.id, attempt: 1, node: NodeID("n1")!, engine: "e", model: "m", tenant: "t", outcome: .succeeded,
                promptTokens: 3, completionTokens: 16, tokensEstimated: false, startedAt: Timestamp(unixMillis: 1), finishedAt: Timestamp(unixMillis: 2),
                pool: "h200", receipt: Receipt(
                    promptTokens: 3, completionTokens: 16, wallMs: 1, slotMs: 900, busyMicros: 800_000, energyMillijoules: 5,
                    energyMeasured: true, depreciationMicroUSD: 7, energyMicroUSD: 1, overheadMicroUSD: 2))
            job.receipt = entry.receipt
            job.attempts[0].receipt = entry.receipt
            let key = ApiKey(
                id: "k1", spec: ApiKeySpec(tenant: "t", priority: 3, models: ["m"], name: "app", maxInflight: 4), secretHash: Array(repeating: 0xAB, count: 32),
                createdAt: Timestamp(unixMillis: 5))
            var revoked = key
            revoked.revokedAt = Timestamp(unixMillis: 6)
            try await store.apply([.job(queued), .node(node), .job(job), .ledger(entry), .apiKey(key), .apiKey(revoked)])
            try await store.apply([.ledger(entry)])  // a replay
            let restored = try await store.restoredState()
            #expect(try await restoredJobs(store, finishedLimit: 10) == [job])
            #expect(restored.nodes == [node])
            #expect(restored.counts == [.running: 1])
            #expect(restored.apiKeys == [revoked])
            #expect(try await store.ledgerEntries() == [entry])
            #expect(try await store.job(job.id) == job)
        }
    }

    @Test("a job the store holds is updated in place: what changed, its stored attempts updated and new ones inserted; an update of a missing job fails its commit",
          arguments: Backend.available)
    func updates(_ backend: Backend) async throws {
        try await backend.withStore { store in
            var job = sampleJob(1, state: .running, node: "n1")
            try await store.apply([.job(job)])
            // Its first attempt failed and a second one runs: one stored attempt, one new.
            job.attempts[0].state = .failed
            job.attempts[0].error = "engine down"
            job.attempts[0].finishedAt = job.submittedAt + 2
            job.attempts.append(Attempt(number: 2, node: NodeID("n1")!, engine: "e", state: .running, assignedAt: job.submittedAt + 3, startedAt: job.submittedAt + 4))
            job.startedAt = job.submittedAt + 4
            try await store.apply([.jobUpdate(job, storedAttempts: 1)])
            #expect(try await store.job(job.id) == job)
            // Then it succeeds; another job is submitted and updated within one commit (it
            // is written whole: its first version there is new).
            job.state = .succeeded
            job.output = "done"
            job.usage = Usage(promptTokens: 3, completionTokens: 1, estimated: false)
            job.finishedAt = job.submittedAt + 9
            job.finishReason = "stop"
            job.attempts[1].state = .succeeded
            job.attempts[1].finishedAt = job.submittedAt + 9
            let second = sampleJob(2)
            var placed = second
            placed.state = .assigned
            placed.attempts = [Attempt(number: 1, node: NodeID("n1")!, engine: "e", state: .assigned, assignedAt: second.submittedAt)]
            try await store.apply([.jobUpdate(job, storedAttempts: 2), .job(second), .jobUpdate(placed, storedAttempts: 0)])
            #expect(try await store.job(job.id) == job)
            #expect(try await store.job(second.id) == placed)
            // A job the store never had: the commit fails and writes nothing.
            let missing = sampleJob(3, state: .running, node: "n1")
            var after = placed
            after.state = .running
            await #expect(throws: (any Error).self) {
                try await store.apply([.jobUpdate(after, storedAttempts: 1), .jobUpdate(missing, storedAttempts: 1)])
            }
            #expect(try await store.job(second.id) == placed)
            #expect(try await store.job(missing.id) == nil)
        }
    }

    @Test("restore loads every unfinished job and only the newest finished ones", arguments: Backend.available)
    func restoreLimits(_ backend: Backend) async throws {
        try await backend.withStore { store in
            try await store.apply((0..<20).map { .job(sampleJob($0, state: $0 < 5 ? .queued : .succeeded)) })
            #expect(try await store.restoredState().counts == [.queued: 5, .succeeded: 15])
            let jobs = try await restoredJobs(store, finishedLimit: 3)
            // The unfinished in id order, then the newest finished ones in id order.
            #expect(jobs.map { $0.id.rawValue } == Array(1_000_000..<1_000_005) + [1_000_017, 1_000_018, 1_000_019])
            #expect(jobs.prefix(5).allSatisfy { $0.state == .queued })
        }
    }

    /// Every job `restoreJobs` hands over, in one array.
    func restoredJobs(_ store: any TestStore, finishedLimit: Int) async throws -> [Job] {
        let jobs = Mutex<[Job]>([])
        try await store.restoreJobs(finishedLimit: finishedLimit) { batch in jobs.withLock { $0 += batch } }
        return jobs.withLock { $0 }
    }

    @Test("restore hands over whole jobs in batches: attempts and receipts across batch boundaries", arguments: Backend.available)
    func restoreBatches(_ backend: Backend) async throws {
        try await backend.withStore { store in
            // n % 3 == 0: queued; 1: running its second attempt after a billed first; 2: succeeded.
            var jobs: [Job] = []
            var entries: [LedgerEntry] = []
            for n in UInt64(0)..<5_000 {
                var job = sampleJob(n, state: n % 3 == 0 ? .queued : n % 3 == 1 ? .running : .succeeded, node: n % 3 == 0 ? nil : "n1")
                if n % 3 == 1 {
                    let receipt = Receipt(promptTokens: Int(n), completionTokens: 1, wallMs: 1, slotMs: 1, busyMicros: 1, energyMillijoules: 1,
                                          energyMeasured: false, depreciationMicroUSD: Int64(n), energyMicroUSD: 0, overheadMicroUSD: 0)
                    job.attempts[0].state = .failed
                    job.attempts[0].receipt = receipt
                    job.attempts.append(Attempt(number: 2, node: NodeID("n1")!, engine: "e", state: .running, assignedAt: job.submittedAt + 1))
                    job.receipt = receipt
                    entries.append(LedgerEntry(
                        job: job.id, attempt: 1, node: NodeID("n1")!, engine: "e", model: "m", tenant: "t", outcome: .failed, promptTokens: Int(n),
                        completionTokens: 1, tokensEstimated: false, startedAt: job.submittedAt, finishedAt: job.submittedAt + 1, pool: "h200",
                        receipt: receipt))
                }
                jobs.append(job)
            }
            try await store.apply(jobs.map { .job($0) } + entries.map { .ledger($0) })
            let sizes = Mutex<[Int]>([])
            let restored = Mutex<[Job]>([])
            try await store.restoreJobs(finishedLimit: 100) { batch in
                sizes.withLock { $0.append(batch.count) }
                restored.withLock { $0 += batch }
            }
            let finished = jobs.filter { $0.state == .succeeded }
            #expect(restored.withLock { $0 } == jobs.filter { !$0.state.isTerminal } + finished.suffix(100))
            #expect(sizes.withLock { $0.count } > 1)
        }
    }

    @Test("listing filters by state, tenant and node, newest first, in pages", arguments: Backend.available)
    func listing(_ backend: Backend) async throws {
        try await backend.withStore { store in
            try await store.apply([.job(sampleJob(1, state: .succeeded, node: "a")), .job(sampleJob(2, state: .running, node: "b")), .job(sampleJob(3))])
            #expect(try await store.jobs(JobFilter()).map(\.id.rawValue) == [1_000_003, 1_000_002, 1_000_001])
            #expect(try await store.jobs(JobFilter(state: .running)).count == 1)
            #expect(try await store.jobs(JobFilter(node: NodeID("a"))).map(\.id.rawValue) == [1_000_001])
            #expect(try await store.jobs(JobFilter(tenant: "nobody")).isEmpty)
            #expect(try await store.jobs(JobFilter(limit: 1, before: JobID(rawValue: 1_000_003))).map(\.id.rawValue) == [1_000_002])
        }
    }

    @Test("pruning drops prompts and outputs of old finished jobs, keeping the job and the ledger", arguments: Backend.available)
    func prune(_ backend: Backend) async throws {
        try await backend.withStore { store in
            var old = sampleJob(1, state: .succeeded)
            old.output = "old text"
            old.finishedAt = Timestamp(unixMillis: 1000)
            var recent = sampleJob(2, state: .succeeded)
            recent.output = "new text"
            recent.finishedAt = Timestamp(unixMillis: 5000)
            try await store.apply([.job(old), .job(recent)])
            #expect(try await store.pruneOutputs(finishedBefore: Timestamp(unixMillis: 2000)) == 1)
            #expect(try await store.job(old.id)?.output == "")
            #expect(try await store.job(old.id)?.spec.prompt == "")
            #expect(try await store.job(recent.id)?.output == "new text")
            #expect(try await store.pruneOutputs(finishedBefore: Timestamp(unixMillis: 2000)) == 0)
        }
    }

    @Test("reports group receipts and idle cost (with outside tokens) the same way", arguments: Backend.available)
    func report(_ backend: Backend) async throws {
        try await backend.withStore { store in
            func entry(_ job: UInt64, node: String, tenant: String, spend: Int64) -> LedgerEntry {
                LedgerEntry(
                    job: JobID(rawValue: job), attempt: 1, node: NodeID(node)!, engine: "e", model: "m", tenant: tenant, outcome: .succeeded,
                    promptTokens: 2, completionTokens: 10, tokensEstimated: false, startedAt: Timestamp(unixMillis: 1000),
                    finishedAt: Timestamp(unixMillis: 2000), pool: "p", receipt: Receipt(
                        promptTokens: 2, completionTokens: 10, wallMs: 1000, slotMs: 1000, busyMicros: 1_000_000, energyMillijoules: 100,
                        energyMeasured: true, depreciationMicroUSD: spend, energyMicroUSD: 0, overheadMicroUSD: 0))
            }
            var idle = IdleAccrual(node: NodeID("a")!, pool: "p", from: Timestamp(unixMillis: 1000), to: Timestamp(unixMillis: 3000))
            idle.idleMs = 2000
            idle.depreciationMicroUSD = 50
            idle.energyMeasured = true
            idle.outsideTokens = 640
            try await store.apply([.ledger(entry(1, node: "a", tenant: "x", spend: 100)), .ledger(entry(2, node: "b", tenant: "x", spend: 300)), .idle(idle)])
            guard case .report(let byNode) = try await store.answer(.report(by: .node, from: .zero, to: Timestamp(unixMillis: 10_000))) else {
                Issue.record("no report")
                return
            }
            #expect(byNode.rows.map(\.key) == ["a", "b"])
            #expect(byNode.rows[0].spendMicroUSD == 150 && byNode.rows[0].outsideTokens == 640 && byNode.rows[0].idleMs == 2000)
            #expect(byNode.total.spendMicroUSD == 450 && byNode.total.completionTokens == 20)
            #expect(byNode.from == Timestamp(unixMillis: 1000), "an open start begins at the first record")
            guard case .report(let byTenant) = try await store.answer(.report(by: .tenant, from: .zero, to: Timestamp(unixMillis: 10_000))) else { return }
            #expect(byTenant.rows.map(\.key) == ["(idle)", "x"])
            #expect(byTenant.total.spendMicroUSD == 450)
            #expect(byTenant.rows.allSatisfy { $0.outsideTokens == 0 })
        }
    }
}

@Suite("PostgreSQL store: the lease and fencing", .serialized, .enabled(if: TestPostgres.enabled, "needs scripts/test's PostgreSQL server"))
struct PostgresLeaseTests {
    @Test("one holder at a time; the epoch only grows; a writer whose epoch was superseded commits nothing")
    func fencing() async throws {
        let store = try await Backend.postgres()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await store.client.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            try await store.migrate()  // twice: nothing applied again
            #expect(try await store.appliedMigrations() == ["v1", "v2-cost", "v3-api", "v4-telemetry", "v5-ha", "v6-history", "v7-unfinished-by-id", "v8-unfinished-without-list"])
            let a = LeaderLease(store: store, instance: "a", address: "10.0.0.1:7420", ttlMs: 1000)
            let b = LeaderLease(store: store, instance: "b", address: "10.0.0.2:7420", ttlMs: 1000)
            let first = try #require(try await a.acquire())
            #expect(try await b.acquire() == nil, "a holds it")
            #expect(try await a.renew(epoch: first))
            let holder = try await b.holder()
            #expect(holder.id == "a" && holder.address == "10.0.0.1:7420" && holder.live && holder.epoch == first)
            // a writes as its epoch.
            store.epoch = first
            try await store.apply([.job(sampleJob(1))])
            // a pauses past its lease; b takes over.
            try await Task.sleep(for: .milliseconds(1200))
            let second = try #require(try await b.acquire())
            #expect(second == first + 1)
            #expect(try await a.renew(epoch: first) == false, "a lost it")
            do {
                try await store.apply([.job(sampleJob(2))])
                Issue.record("a committed after losing the lease")
            } catch let e as FencedError {
                #expect(e.mine == first && e.current == second)
            }
            store.epoch = second
            #expect(try await store.jobs(JobFilter()).map(\.id.rawValue) == [1_000_001], "nothing of a's late write")
            // A clean stop hands over at once.
            try await b.release(epoch: second)
            #expect(try await a.acquire() == second + 1)
        }
    }

    @Test("a schema written by a newer gantryd is refused, naming it")
    func newerSchema() async throws {
        let store = try await Backend.postgres()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await store.client.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            try await store.client.query("INSERT INTO gantry_migrations (name) VALUES ('v99')")
            do {
                try await store.migrate()
                Issue.record("migrated")
            } catch {
                #expect("\(error)".contains("'v99'") && "\(error)".contains("newer"))
            }
        }
    }
}
