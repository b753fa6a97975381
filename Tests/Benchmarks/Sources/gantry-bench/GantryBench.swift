import ArgumentParser
import Foundation
import GantryConfig
import GantryControl
import GantryModel
import GantryNet
import GantryWire
import Histogram
import NIOCore

@main
struct GantryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gantry-bench",
        abstract: "Load generator for scripts/bench: prints one JSON line of results.",
        subcommands: [Load.self, Heartbeats.self, Placement.self, FrontDoor.self, StoreWritesBench.self])
}

/// Options shared by the modes.
struct Target: ParsableArguments {
    @Option(help: "gantryd's protocol address.") var coordinator: String = "127.0.0.1:7420"
    @Option(name: .customLong("gantryd-pid"), help: "gantryd's pid, to read its CPU time and memory.") var gantrydPID: Int32?

    func address() throws -> HostPort { try HostPort(parsing: coordinator) }
}

struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Submit jobs as fast as possible, or at a fixed rate, and time them.")

    @OptionGroup var target: Target
    @Option(name: .customLong("token-file")) var tokenFile: String
    @Option(help: "Jobs to submit.") var jobs: Int = 100_000
    @Option(help: "Client connections.") var connections: Int = 4
    @Option(help: "Jobs per submit request (as-fast-as-possible mode).") var batch: Int = 200
    @Option(help: "Jobs per second in all; 0 = as fast as possible.") var rate: Double = 0
    @Option(help: "The model (a sim engine's).") var model: String = "sim-bench"
    @Option(name: .customLong("max-tokens")) var maxTokens: Int = 1
    @Option(help: "In as-fast-as-possible mode, every Nth request is one watched job, to sample latency (0: none).") var sample: Int = 10
    @Option(help: "Seconds to wait for every job to succeed before giving up.") var timeout: Int = 600
    @Flag(name: .customLong("no-wait"), help: "Return once every job is acknowledged, without waiting for completion.") var noWait = false

    func validate() throws {
        guard jobs > 0, connections > 0, batch > 0, timeout > 0, sample >= 0, rate >= 0 else {
            throw ValidationError("--jobs, --connections, --batch and --timeout must be positive; --sample and --rate not negative")
        }
        if noWait && rate > 0 { throw ValidationError("--no-wait applies only to the as-fast-as-possible mode") }
    }

    func run() async throws {
        raiseFileLimit()
        let token = Secret(try String(contentsOfFile: tokenFile, encoding: .utf8))!
        let address = try target.address()
        let before = ProcStats(pid: target.gantrydPID)
        let recorder = Recorder()
        let baseline = try await succeededCount(address, token)
        let started = ContinuousClock.now
        let perConnection = (jobs + connections - 1) / connections
        let spec = JobSpec(model: model, prompt: "bench", maxTokens: maxTokens)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in 0..<connections {
                let count = min(perConnection, jobs - c * perConnection)
                guard count > 0 else { continue }
                group.addTask {
                    try await ControlClient.withConnection(to: address, token: token, timeoutMs: 10_000) { client in
                        if rate > 0 {
                            // Connection c sends the jobs numbered c, c + connections, … of one
                            // schedule, so the jobs leave evenly spaced rather than `connections`
                            // at a time.
                            let slot = Duration.nanoseconds(Int64(1e9 / rate))
                            try await Self.paced(
                                client, count: count, first: started + slot * c, interval: slot * connections, spec: spec, recorder: recorder)
                        } else {
                            try await Self.flood(client, count: count, batch: batch, sample: sample, spec: spec, recorder: recorder)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let submitted = ContinuousClock.now
        // Completion: poll until every job has succeeded.
        while !noWait {
            let done = try await succeededCount(address, token) - baseline
            if done >= jobs { break }
            if ContinuousClock.now - started > .seconds(timeout) {
                throw ValidationError("only \(done) of \(jobs) jobs succeeded within \(timeout) s (--timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let completed = ContinuousClock.now
        let after = ProcStats(pid: target.gantrydPID)
        let submitSeconds = seconds(submitted - started)
        let completeSeconds = seconds(completed - started)
        var out: [String: Any] = [
            "mode": rate > 0 ? "rate" : "throughput",
            "params": ["jobs": jobs, "connections": connections, "batch": rate > 0 ? 1 : batch, "rate": rate, "model": model, "max_tokens": maxTokens, "sample": sample],
            "submitted_per_s": Double(jobs) / submitSeconds,
            "wall_s": completeSeconds,
        ]
        if !noWait { out["completed_per_s"] = Double(jobs) / completeSeconds }
        out.merge(recorder.summary()) { a, _ in a }
        if let me = ProcStats(pid: getpid()) { out["loadgen_cpu_s"] = me.cpuSeconds }
        if let b = before, let a = after {
            out["gantryd_cpu_s"] = a.cpuSeconds - b.cpuSeconds
            out["gantryd_peak_rss_mb"] = Double(a.peakRSSKiB) / 1024
            out["gantryd_rss_mb"] = Double(a.rssKiB) / 1024
        }
        printJSON(out)
    }

    /// As fast as possible: batches back to back. Every `sample`-th request is instead one
    /// job alone, watched beside the batches (not in line with them), to sample latency
    /// under load.
    static func flood(_ client: ControlClient, count: Int, batch: Int, sample: Int, spec: JobSpec, recorder: Recorder) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var sent = 0
            var round = 0
            while sent < count {
                round += 1
                if sample > 0, round % sample == 0 {
                    sent += 1
                    group.addTask { try await watched(client, spec: spec, recorder: recorder) }
                    continue
                }
                let n = min(batch, count - sent)
                let t0 = ContinuousClock.now
                let response = try await client.request(.submit(Array(repeating: spec, count: n)))
                guard case .submitted = response else { throw ValidationError("unexpected answer \(response)") }
                recorder.batchAck(ContinuousClock.now - t0)
                sent += n
            }
            try await group.waitForAll()
        }
    }

    /// A fixed rate: one watched job every `interval` after `first`.
    static func paced(
        _ client: ControlClient, count: Int, first: ContinuousClock.Instant, interval: Duration, spec: JobSpec, recorder: Recorder
    ) async throws {
        var next = first
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<count {
                next += interval
                if next > ContinuousClock.now { try await Task.sleep(until: next) }
                group.addTask { try await watched(client, spec: spec, recorder: recorder) }
            }
            try await group.waitForAll()
        }
    }

    /// Submits one job with watch and times its ack, start and completion.
    static func watched(_ client: ControlClient, spec: JobSpec, recorder: Recorder) async throws {
        let t0 = ContinuousClock.now
        let (_, events) = try await client.submitWatching([spec])
        recorder.ack(ContinuousClock.now - t0)
        var started = false
        for try await event in events {
            if !started, event.job.state == .running || event.job.state.isTerminal {
                started = true
                recorder.start(ContinuousClock.now - t0)
            }
            if event.final { recorder.complete(ContinuousClock.now - t0) }
        }
    }

    func succeededCount(_ address: HostPort, _ token: Secret) async throws -> Int {
        try await ControlClient.withConnection(to: address, token: token) { client in
            guard case .status(let s) = try await client.request(.status) else { return 0 }
            return s.jobs[.succeeded] ?? 0
        }
    }
}

/// Latency histograms (microseconds), shared by the client tasks.
final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var acks = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    private var batchAcks = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    private var starts = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    private var completes = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)

    func ack(_ d: Duration) { record(d) { acks.record($0) } }
    func batchAck(_ d: Duration) { record(d) { batchAcks.record($0) } }
    func start(_ d: Duration) { record(d) { starts.record($0) } }
    func complete(_ d: Duration) { record(d) { completes.record($0) } }

    private func record(_ d: Duration, _ into: (UInt64) -> Void) {
        let us = UInt64(max(0, seconds(d) * 1e6))
        lock.lock()
        into(us)
        lock.unlock()
    }

    func summary() -> [String: Any] {
        lock.lock()
        defer { lock.unlock() }
        func percentiles(_ h: Histogram<UInt64>) -> [String: Any] {
            guard h.totalCount > 0 else { return ["count": 0] }
            return [
                "count": h.totalCount, "p50_ms": Double(h.valueAtPercentile(50)) / 1000, "p90_ms": Double(h.valueAtPercentile(90)) / 1000,
                "p99_ms": Double(h.valueAtPercentile(99)) / 1000, "max_ms": Double(h.max) / 1000,
            ]
        }
        return ["submit_ack": percentiles(acks), "batch_submit_ack": percentiles(batchAcks), "submit_to_start": percentiles(starts), "submit_to_complete": percentiles(completes)]
    }
}

struct ProcStats {
    var cpuSeconds: Double
    var rssKiB: Int
    var peakRSSKiB: Int

    init?(pid: Int32?) {
        guard let pid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        cpuSeconds = ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks
        func kib(_ key: String) -> Int {
            status.split(separator: "\n").first { $0.hasPrefix(key) }.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
        }
        rssKiB = kib("VmRSS:")
        peakRSSKiB = kib("VmHWM:")
    }
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

func printJSON(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func raiseFileLimit() {
    var limit = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
}
