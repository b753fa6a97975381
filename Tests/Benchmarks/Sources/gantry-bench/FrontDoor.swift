import ArgumentParser
import AsyncHTTPClient
import Foundation
import Histogram
import NIOCore
import NIOPosix

/// Streamed OpenAI requests against one endpoint (gantryd's API, an engine, or any other
/// OpenAI-compatible server), N at a time: time to first token and to the end, and
/// requests per second. `scripts/bench frontdoor` runs it against gantryd and against the
/// same engines reached directly, one after the other, so the overhead is side by side.
struct FrontDoor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "frontdoor", abstract: "Time streamed completions through an OpenAI-compatible endpoint.")

    @Option(help: "Base URLs (…/v1), comma-separated; requests go round-robin.") var url: String
    @Option(help: "An API key (Authorization: Bearer).") var key: String = "none"
    @Option(help: "A label for the output.") var label: String = "target"
    @Option(help: "The model.") var model: String
    @Option(help: "Requests in flight at once.") var concurrency: Int = 1
    @Option(help: "Requests in all.") var requests: Int = 200
    @Option(name: .customLong("max-tokens"), help: "Tokens per request.") var maxTokens: Int = 16
    @Flag(help: "Use /v1/chat/completions (default: /v1/completions).") var chat = false
    @Option(name: .customLong("warmup"), help: "Requests sent first and not timed.") var warmup: Int = 20
    @Option(name: .customLong("pid"), help: "A process to report the CPU time of (gantryd).") var pid: Int32?
    @Option(help: "With K > 0, request i's prompt is shared prefix i % K (--prefix-bytes long) and a question of its own.")
    var prefixes: Int = 0
    @Option(name: .customLong("prefix-bytes"), help: "The length of each shared prefix.") var prefixBytes: Int = 1000

    func validate() throws {
        guard concurrency > 0, requests > 0, maxTokens > 0 else { throw ValidationError("--concurrency, --requests and --max-tokens must be positive") }
    }

    func run() async throws {
        raiseFileLimit()
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, concurrency)
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
        let bases = url.split(separator: ",").map(String.init)
        let path = chat ? "/chat/completions" : "/completions"
        let (model, maxTokens, chat, prefixes, prefixBytes) = (self.model, self.maxTokens, self.chat, self.prefixes, self.prefixBytes)
        func body(_ i: Int) -> String {
            var prompt = "Tell me about clusters."
            if prefixes > 0 {
                // Plain ASCII, so it needs no JSON escaping.
                let k = i % prefixes
                let sentence = "System prompt \(k): you are assistant number \(k), who answers questions about clusters briefly. "
                prompt = String(String(repeating: sentence, count: prefixBytes / sentence.utf8.count + 1).prefix(prefixBytes)) + " Question \(i)?"
            }
            return chat
                ? #"{"model":"\#(model)","messages":[{"role":"user","content":"\#(prompt)"}],"max_tokens":\#(maxTokens),"stream":true}"#
                : #"{"model":"\#(model)","prompt":"\#(prompt)","max_tokens":\#(maxTokens),"stream":true}"#
        }
        let ttft = Timings()
        let total = Timings()
        let failures = Tally()
        let next = Tally()
        let (key, warmup, requests, concurrency) = (self.key, self.warmup, self.requests, self.concurrency)
        func one(_ i: Int, timed: Bool) async {
            var request = HTTPClientRequest(url: bases[i % bases.count] + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
            request.body = .bytes(ByteBuffer(string: body(i)))
            let start = ContinuousClock.now
            do {
                let response = try await client.execute(request, timeout: .seconds(60))
                guard response.status == .ok else {
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    failures.add()
                    return
                }
                var first = true
                for try await chunk in response.body {
                    if first, Self.carriesText(chunk) {
                        first = false
                        if timed { ttft.record(ContinuousClock.now - start) }
                    }
                }
                if timed { total.record(ContinuousClock.now - start) }
            } catch {
                failures.add()
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for w in 0..<min(concurrency, warmup) {
                group.addTask { for i in stride(from: w, to: warmup, by: concurrency) { await one(i, timed: false) } }
            }
        }
        failures.reset()
        let before = ProcStats(pid: pid)
        let started = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let i = next.add()
                        guard i <= requests else { return }
                        await one(i, timed: true)
                    }
                }
            }
        }
        let elapsed = seconds(ContinuousClock.now - started)
        try await client.shutdown()
        var out: [String: Any] = [
            "mode": "frontdoor", "target": label,
            "params": [
                "concurrency": concurrency, "requests": requests, "max_tokens": maxTokens, "chat": chat, "url": url, "prefixes": prefixes,
                "prefix_bytes": prefixBytes,
            ],
            "requests_per_s": Double(requests - failures.value) / elapsed, "failed": failures.value,
            "ttft": ttft.summary(), "total": total.summary(),
        ]
        if let a = ProcStats(pid: pid), let b = before { out["server_cpu_s"] = a.cpuSeconds - b.cpuSeconds }
        if let me = ProcStats(pid: getpid()) { out["loadgen_cpu_s"] = me.cpuSeconds }
        printJSON(out)
    }

    /// Whether a piece of the event stream holds generated text (not only a role).
    static func carriesText(_ chunk: ByteBuffer) -> Bool {
        let s = String(buffer: chunk)
        for marker in [#""text":""#, #""content":""#] {
            var range = s.startIndex..<s.endIndex
            while let r = s.range(of: marker, range: range) {
                if r.upperBound < s.endIndex, s[r.upperBound] != "\"" { return true }
                range = r.upperBound..<s.endIndex
            }
        }
        return false
    }
}

final class Timings: @unchecked Sendable {
    private let lock = NSLock()
    private var h = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)

    func record(_ d: Duration) {
        lock.lock()
        h.record(UInt64(max(0, seconds(d) * 1e6)))
        lock.unlock()
    }

    func summary() -> [String: Any] {
        lock.lock()
        defer { lock.unlock() }
        guard h.totalCount > 0 else { return ["count": 0] }
        return [
            "count": h.totalCount, "p50_ms": Double(h.valueAtPercentile(50)) / 1000, "p90_ms": Double(h.valueAtPercentile(90)) / 1000,
            "p99_ms": Double(h.valueAtPercentile(99)) / 1000, "max_ms": Double(h.max) / 1000,
        ]
    }
}

final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0

    @discardableResult
    func add() -> Int {
        lock.lock()
        defer { lock.unlock() }
        n += 1
        return n
    }

    func reset() {
        lock.lock()
        n = 0
        lock.unlock()
    }

    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return n
    }
}
