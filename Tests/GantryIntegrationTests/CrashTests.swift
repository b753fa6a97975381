import Foundation
import GRDB
import GantryAgent
import GantryConfig
import GantryControl
import GantryModel
import GantryStore
import GantryWire
import GantryTestSupport
import Testing

@Suite("Durability across kill -9 (shipped binaries)", .serialized)
struct CrashTests {
    /// What the store holds once every gantryd has stopped, read straight from it.
    struct Audit {
        var jobs: [Int64: (state: String, completion: Int)] = [:]
        var succeededAttempts: [Int64: Int] = [:]
        var completedAttempts: Set<String> = []
        var ledger: [String: Int] = [:]
        var ledgerCompletionTokens = 0

        /// From rows: jobs (id, state, completion tokens), attempts (job, number, state),
        /// ledger (job, attempt, completion tokens, outcome).
        init(jobs: [(Int64, String, Int)], attempts: [(Int64, Int64, String)], ledger rows: [(Int64, Int64, Int, String)]) {
            for (id, state, completion) in jobs { self.jobs[id] = (state, completion) }
            for (job, number, state) in attempts {
                if state == "succeeded" { succeededAttempts[job, default: 0] += 1 }
                if ["succeeded", "failed", "cancelled"].contains(state) { completedAttempts.insert("\(job)#\(number)") }
            }
            for (job, attempt, completion, outcome) in rows {
                ledger["\(job)#\(attempt)", default: 0] += 1
                if outcome == "succeeded" { ledgerCompletionTokens += completion }
            }
        }

        /// The SQLite file in `stateDir`.
        init(stateDir: String) throws {
            let db = try DatabaseQueue(path: stateDir + "/" + Store.fileName)
            let (jobs, attempts, ledger) = try db.read { db in
                (
                    try Row.fetchAll(db, sql: Self.jobsSQL).map { ($0[0] as Int64, $0[1] as String, $0[2] as Int) },
                    try Row.fetchAll(db, sql: Self.attemptsSQL).map { ($0[0] as Int64, $0[1] as Int64, $0[2] as String) },
                    try Row.fetchAll(db, sql: Self.ledgerSQL).map { ($0[0] as Int64, $0[1] as Int64, $0[2] as Int, $0[3] as String) }
                )
            }
            self.init(jobs: jobs, attempts: attempts, ledger: ledger)
        }

        /// A PostgreSQL store, through psql.
        init(postgres url: String) async throws {
            func rows(_ sql: String) async throws -> [[Substring]] {
                let r = try await runCommand("/usr/bin/psql", [url, "-At", "-F", "|", "-c", sql], environment: ["PGPASSWORD": TestPostgres.password ?? ""])
                guard r.status == 0 else { throw TestFailure("psql: \(r.stderr)") }
                return r.stdout.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false) }
            }
            self.init(
                jobs: try await rows(Self.jobsSQL).map { (Int64($0[0])!, String($0[1]), Int($0[2])!) },
                attempts: try await rows(Self.attemptsSQL).map { (Int64($0[0])!, Int64($0[1])!, String($0[2])) },
                ledger: try await rows(Self.ledgerSQL).map { (Int64($0[0])!, Int64($0[1])!, Int($0[2])!, String($0[3])) })
        }

        static let jobsSQL = "SELECT id, state, completion_tokens FROM jobs"
        static let attemptsSQL = "SELECT job_id, number, state FROM attempts"
        static let ledgerSQL = "SELECT job_id, attempt, completion_tokens, outcome FROM ledger"

        /// Every acknowledged job succeeded exactly once; one ledger row per completed
        /// attempt; the tokens add up.
        func verify(_ acked: AckedIDs, total: Int) {
            let ids = acked.ids
            #expect(ids.count == total)
            #expect(Set(ids).count == ids.count, "job ids repeated")
            var missing = 0, notSucceeded = 0, notOnce = 0
            var expectedTokens = 0
            for (id, tokens) in zip(ids, acked.tokens) {
                let key = Int64(bitPattern: id.rawValue)
                guard let job = jobs[key] else { missing += 1; continue }
                if job.state != "succeeded" { notSucceeded += 1 }
                if succeededAttempts[key] != 1 { notOnce += 1 }
                #expect(job.completion == tokens)
                expectedTokens += tokens
            }
            #expect(missing == 0, "acknowledged jobs missing from the store")
            #expect(notSucceeded == 0)
            #expect(notOnce == 0, "jobs without exactly one succeeded attempt")
            // One ledger row per completed attempt, no more, no fewer.
            #expect(Set(ledger.keys) == completedAttempts)
            #expect(ledger.values.allSatisfy { $0 == 1 })
            // Token totals: ledger = jobs (all succeeded jobs, acknowledged or not).
            let jobTokens = jobs.values.filter { $0.state == "succeeded" }.reduce(0) { $0 + $1.completion }
            #expect(ledgerCompletionTokens == jobTokens)
            #expect(jobTokens >= expectedTokens)
        }
    }

    /// Submits `total` jobs in batches of 20 to whichever coordinator leads, retrying (as new
    /// jobs) whatever was not acknowledged, until all are.
    static func submitter(_ addresses: [HostPort], token: Secret, total: Int, acked: AckedIDs) -> Task<Void, Never> {
        Task {
            while acked.count < total {
                do {
                    try await ControlClient.withConnection(to: addresses, token: token, timeoutMs: 2000) { c in
                        while acked.count < total {
                            let n = min(20, total - acked.count)
                            let specs = (0..<n).map { JobSpec(model: "sim-8b", prompt: "crash test \($0)", maxTokens: 8 + $0 % 5) }
                            guard case .submitted(let ids) = try await c.request(.submit(specs)) else { throw TestFailure("bad answer") }
                            acked.add(ids, tokens: specs.map(\.maxTokens))
                        }
                    }
                } catch {
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
        }
    }

    /// Waits until nothing is queued, assigned or running.
    static func drained(_ cluster: Cluster) async throws {
        try await eventually("all acknowledged jobs succeeded", timeout: 120) {
            let queued = try await cluster.ctlJSON(["status"])["jobs"] as? [String: Int] ?? [:]
            return (queued["queued"] ?? 0) + (queued["assigned"] ?? 0) + (queued["running"] ?? 0) == 0
        }
    }

    @Test("kill -9 gantryd three times during 2,000 submits: every acknowledged job succeeds exactly once, the ledger has one row per completed attempt, tokens add up")
    func coordinatorCrash() async throws {
        let port = try freePort()
        let cluster = try await Cluster(Cluster.Options(intervalMs: 200, ttlMs: 5000, listenPort: port))
        for id in ["a", "b", "c"] { try cluster.startAgent(id, engines: Cluster.simEngine(slots: 16, ttftMs: 1, tokensPerSecond: 4000)) }
        let token = Secret(try String(contentsOfFile: cluster.scratch.file("admin.token"), encoding: .utf8))!
        let address = HostPort(host: "127.0.0.1", port: port)
        let acked = AckedIDs()
        let total = 2000
        do {
            try await eventually("3 ready") { try await cluster.nodeStates().values.filter { $0 == "ready" }.count == 3 }
            let client = Self.submitter([address], token: token, total: total, acked: acked)
            // The killer: three kill -9s at random points while submits are in flight.
            var rng = SystemRandomNumberGenerator()
            for round in 1...3 {
                let target = total * round / 4 + Int.random(in: -150...150, using: &rng)
                try await eventually("\(target) acknowledged", timeout: 120) { acked.count >= target }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...40, using: &rng)))
                try await cluster.crashAndRestartGantryd()
            }
            _ = await client.value
            // Everything acknowledged runs to completion.
            try await Self.drained(cluster)
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
        try Audit(stateDir: cluster.scratch.path + "/state").verify(acked, total: total)
    }

    @Test("kill -9 an agent mid-job and restart it: its spooled results are delivered once, the jobs it lost are rerun")
    func agentCrash() async throws {
        let cluster = try await Cluster(Cluster.Options(intervalMs: 200, ttlMs: 30_000))
        try cluster.startAgent("a", engines: Cluster.simEngine(slots: 16, ttftMs: 5, tokensPerSecond: 100))
        do {
            try await eventually("a ready") { try await cluster.nodeStates()["a"] == "ready" }
            // 8 short jobs (done in ~3 s) and 8 long ones (~12 s). The short ones must still
            // run when gantryd is seen with all 16 running and frozen, which on two loaded
            // cores took longer than the 0.6 s they used to last, and in a clean-clone CI run
            // longer than 1.5 s (gantryctl's status polls came about a second apart).
            var lines: [String] = []
            for i in 0..<8 { lines.append("{\"prompt\": \"short \(i)\", \"max_tokens\": 300}") }
            for i in 0..<8 { lines.append("{\"prompt\": \"long \(i)\", \"max_tokens\": 1200}") }
            let file = try cluster.scratch.write("p.jsonl", lines.joined(separator: "\n"))
            let ids = try await cluster.ctl(["submit", "--model", "sim-8b", "--file", file]).stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == 16)
            try await eventually("all running") {
                let jobs = try await cluster.ctlJSON(["status"])["jobs"] as? [String: Any] ?? [:]
                return (jobs["running"] as? Int) == 16
            }
            // Freeze gantryd: the short jobs finish, their results are spooled but not acked.
            cluster.gantryd.signal(SIGSTOP)
            let spool = cluster.scratch.path + "/a/spool"
            try await eventually("8 results spooled") { try spooledResults(spool) == 8 }
            cluster.agents["a"]!.killHard()
            cluster.gantryd.signal(SIGCONT)
            try cluster.startAgent("a", engines: Cluster.simEngine(slots: 16, ttftMs: 5, tokensPerSecond: 1000))
            _ = try await cluster.agents["a"]!.awaitLog(#"results in the spool will be re-sent .*results=8"#)
            try await eventually("all succeeded", timeout: 30) {
                var done = 0
                for id in ids where try await cluster.ctlJSON(["jobs", "get", id])["state"] as? String == "succeeded" { done += 1 }
                return done == 16
            }
            try await eventually("spool empty") { try spooledResults(spool) == 0 }
            for (i, id) in ids.enumerated() {
                let job = try await cluster.ctlJSON(["jobs", "get", id])
                let history = (job["attempt_history"] as? [[String: Any]] ?? []).map { $0["state"] as? String ?? "" }
                if i < 8 {
                    // Delivered from the spool: the first attempt's result, applied once.
                    #expect(history == ["succeeded"], "short job \(i): \(history)")
                } else {
                    // Lost with the agent, rerun.
                    #expect(history == ["lost", "succeeded"], "long job \(i): \(history)")
                }
                #expect(job["completion_tokens"] as? Int == (i < 8 ? 300 : 1200))
            }
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        cluster.gantryd.signal(SIGCONT)
        await cluster.stop()
        let audit = try Audit(stateDir: cluster.scratch.path + "/state")
        #expect(Set(audit.ledger.keys) == audit.completedAttempts)
        #expect(audit.ledger.values.allSatisfy { $0 == 1 })
        #expect(audit.ledger.count == 16)
    }
}

/// Results in an agent's spool (`spool` is `<state_dir>/spool`) not yet acknowledged.
func spooledResults(_ spool: String) throws -> Int {
    try FileSpool.unacknowledged(stateDir: String(spool.dropLast("/spool".count))).count
}

/// Ids the coordinator acknowledged, with the tokens each asked for.
final class AckedIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [JobID] = []
    private var tokenList: [Int] = []
    func add(_ ids: [JobID], tokens: [Int]) {
        lock.lock()
        list += ids
        tokenList += tokens
        lock.unlock()
    }
    var count: Int { lock.lock(); defer { lock.unlock() }; return list.count }
    var ids: [JobID] { lock.lock(); defer { lock.unlock() }; return list }
    var tokens: [Int] { lock.lock(); defer { lock.unlock() }; return tokenList }
}
