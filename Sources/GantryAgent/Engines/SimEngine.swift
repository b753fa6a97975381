import GantryRuntime
public import GantryConfig
public import GantryModel
import GantryNet

/// The built-in simulator, in the spirit of llm-d's inference-sim and Dynamo's mocker:
/// it waits `ttft_ms`, then emits `max_tokens` tokens at `tokens_per_second` per
/// sequence. Its text is deterministic (a function of the prompt) and every result is
/// marked `simulated`, so it can never pass for model output.
public struct SimEngine: Engine {
    public let config: EngineConfig
    let maxOutputBytes: Int

    public init(config: EngineConfig, maxOutputBytes: Int = 1 << 20) {
        self.config = config
        self.maxOutputBytes = maxOutputBytes
    }

    public func probe() async -> EngineHealth { EngineHealth(healthy: true, detail: "simulator") }

    public func run(_ a: Assignment, progress: @escaping @Sendable (JobProgress) async -> Void) async -> AttemptResult {
        let startedAt = WallClock.now()
        let clock = ContinuousClock()
        let start = clock.now
        var throttle = ProgressThrottle(ref: a.ref, intervalMs: a.spec.interactive ? 0 : 100)
        var output = OutputBuffer(limit: maxOutputBytes)
        let n = max(0, a.spec.maxTokens)
        let promptTokens = SimText.promptTokens(a.spec.prompt)
        do {
            if config.ttftMs > 0 { try await clock.sleep(until: start + .milliseconds(config.ttftMs)) }
            var firstTokenAt: Timestamp?
            for i in 0..<n {
                if config.tokensPerSecond > 0 {
                    let due = start + .milliseconds(config.ttftMs) + .nanoseconds(Int64(Double(i) / config.tokensPerSecond * 1e9))
                    if due > clock.now { try await clock.sleep(until: due) }
                } else {
                    try Task.checkCancellation()
                }
                let token = SimText.token(prompt: a.spec.prompt, seed: a.spec.seed ?? 0, index: i)
                output.append(token)
                if firstTokenAt == nil { firstTokenAt = WallClock.now() }
                if config.tokensPerSecond > 0, let p = throttle.add(token, tokens: 1, now: WallClock.now()) { await progress(p) }
            }
            return AttemptResult(
                ref: a.ref, outcome: .succeeded, output: output.text,
                usage: Usage(promptTokens: promptTokens, completionTokens: n, estimated: false), engine: config.name,
                startedAt: startedAt, firstTokenAt: firstTokenAt, finishedAt: WallClock.now(), simulated: true,
                outputTruncated: output.truncated, finishReason: "length")
        } catch {
            var r = AttemptResult.failure(a, engine: config.name, startedAt: startedAt, error: "cancelled", cancelled: true)
            r.output = output.text
            r.simulated = true
            r.usage = Usage(promptTokens: promptTokens, completionTokens: throttle.tokens, estimated: false)
            return r
        }
    }
}

/// The simulator's deterministic text.
enum SimText {
    static let words = [
        "the", "cluster", "schedules", "tokens", "across", "nodes", "while", "every", "slot", "reports",
        "its", "cost", "and", "energy", "so", "operators", "see", "where", "money", "goes", "a", "job",
        "runs", "on", "engine", "that", "serves", "model", "with", "free", "capacity", "queue",
    ]

    /// Roughly four bytes per token, as BPE tokenizers average on English text.
    static func promptTokens(_ prompt: String) -> Int { max(1, (prompt.utf8.count + 3) / 4) }

    static func token(prompt: String, seed: UInt64, index: Int) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for b in prompt.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        // splitmix64 of (prompt hash + index): well mixed, so the text does not cycle.
        var z = h &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        h = z ^ (z >> 31)
        return (index == 0 ? "" : " ") + words[Int(h % UInt64(words.count))]
    }
}
