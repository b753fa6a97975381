import ArgumentParser
import Foundation
import GantryModel
import GantryPersistence
import GantryStore

/// The SQLite store's writes of trivial jobs as gantryd makes them, in-process: each batch
/// of jobs written at its assignment (a new job, whole), then at its end with its ledger
/// row; the end written whole (an upsert of every column, as before) or as an update of
/// what changed (`.jobUpdate`), alternated round by round in one process, so the two are
/// compared on the same machine in the same minutes. CPU is the process's (SQLite's and
/// the Swift side's); the commits are synced as in gantryd.
struct StoreWritesBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Time the store's writes of jobs: ends written whole against ends written as updates.")

    @Option(help: "Jobs per round.") var jobs: Int = 100_000
    @Option(help: "Jobs per commit (gantryd's group commit takes what queued meanwhile).") var batch: Int = 500
    @Option(help: "Rounds of each kind, alternated.") var rounds: Int = 3
    @Option(name: .customLong("state-dir"), help: "An empty directory for the rounds' stores.") var stateDir: String

    func validate() throws {
        guard jobs > 0, batch > 0, rounds > 0 else { throw ValidationError("--jobs, --batch and --rounds must be positive") }
    }

    func run() throws {
        var results: [String: [Double]] = ["whole": [], "update": []]
        for round in 1...rounds {
            for kind in ["whole", "update"] {
                let dir = stateDir + "/\(kind)-\(round)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let store = try Store.open(stateDir: dir, minFreeBytes: 0)
                let cpu = try write(into: store, updates: kind == "update")
                results[kind]!.append(cpu / Double(jobs) * 1e6)
                try FileManager.default.removeItem(atPath: dir)
            }
        }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        printJSON([
            "mode": "store", "params": ["jobs": jobs, "batch": batch, "rounds": rounds],
            "whole_cpu_us_per_job": results["whole"]!, "update_cpu_us_per_job": results["update"]!,
            "ratio_median": median(results["update"]!) / median(results["whole"]!),
        ])
    }

    /// Writes `jobs` jobs; returns the CPU seconds it took.
    func write(into store: Store, updates: Bool) throws -> Double {
        let node = NodeID("node-1")!
        let t0 = Timestamp(unixMillis: 1_764_000_000_000)
        let spec = JobSpec(model: "sim-bench", prompt: "Write a haiku about schedulers.", maxTokens: 1, tenant: "bench")
        let start = try cpuSeconds()
        for first in stride(from: 0, to: jobs, by: batch) {
            var placed: [Job] = []
            for i in first..<min(first + batch, jobs) {
                var job = Job(id: JobID(unixMillis: t0.unixMillis, counter: UInt32(i)), spec: spec, submittedAt: t0)
                job.state = .assigned
                job.attempts = [Attempt(number: 1, node: node, engine: "sim", state: .assigned, assignedAt: t0)]
                placed.append(job)
            }
            try store.apply(placed.map { .job($0) })
            var ends: [StoreChange] = []
            for var job in placed {
                job.state = .succeeded
                job.startedAt = t0 + 1
                job.finishedAt = t0 + 2
                job.output = "ok"
                job.usage = Usage(promptTokens: 6, completionTokens: 1)
                job.finishReason = "length"
                job.attempts[0].state = .succeeded
                job.attempts[0].startedAt = t0 + 1
                job.attempts[0].finishedAt = t0 + 2
                ends.append(updates ? .jobUpdate(job, storedAttempts: 1) : .job(job))
                ends.append(.ledger(LedgerEntry(
                    job: job.id, attempt: 1, node: node, engine: "sim", model: spec.model, tenant: spec.tenant, outcome: .succeeded,
                    promptTokens: 6, completionTokens: 1, tokensEstimated: false, startedAt: t0 + 1, finishedAt: t0 + 2)))
            }
            try store.apply(ends)
        }
        return try cpuSeconds() - start
    }

    func cpuSeconds() throws -> Double {
        guard let stats = ProcStats(pid: getpid()) else { throw ValidationError("cannot read this process's CPU time from /proc") }
        return stats.cpuSeconds
    }
}
