import GantryRuntime
public import GantryConfig
public import GantryModel
import GantryNet

/// Runs attempts for one configured engine. An attempt ends with a result in every case:
/// success, an engine error (failed), or cancellation (the task was cancelled).
public protocol Engine: Sendable {
    var config: EngineConfig { get }
    /// Runs one attempt to its end, reporting generated text through `progress`.
    func run(_ assignment: Assignment, progress: @escaping @Sendable (JobProgress) async -> Void) async -> AttemptResult
    /// Checks the engine can take work; a failing probe takes its slots out of capacity.
    func probe() async -> EngineHealth
    /// Reads the engine's own telemetry, for engines that have it (and have it on).
    var scraper: EngineScraper? { get }
}

extension Engine {
    public var scraper: EngineScraper? { nil }
}

public struct EngineHealth: Hashable, Sendable {
    public var healthy: Bool
    public var detail: String

    public init(healthy: Bool, detail: String = "") {
        self.healthy = healthy
        self.detail = detail
    }
}

/// Collects streamed text and sends at most one progress message per `intervalMs`.
struct ProgressThrottle {
    let ref: AttemptRef
    let intervalMs: Int64
    private var pending = ""
    private var lastSent: Timestamp = .zero
    private(set) var tokens = 0
    private(set) var firstTokenAt: Timestamp?

    init(ref: AttemptRef, intervalMs: Int64 = 100) {
        self.ref = ref
        self.intervalMs = intervalMs
    }

    /// Adds a chunk of `tokens` tokens; returns a progress message when one is due.
    mutating func add(_ text: String, tokens n: Int, now: Timestamp) -> JobProgress? {
        if firstTokenAt == nil && n > 0 { firstTokenAt = now }
        pending += text
        tokens += n
        guard now - lastSent >= intervalMs else { return nil }
        lastSent = now
        defer { pending = "" }
        return JobProgress(ref: ref, outputDelta: pending, completionTokens: tokens, firstTokenAt: firstTokenAt)
    }
}

/// Keeps output within the agent's limit without splitting a UTF-8 sequence.
struct OutputBuffer {
    let limit: Int
    private(set) var text = ""
    private(set) var truncated = false

    init(limit: Int) { self.limit = limit }

    mutating func append(_ s: String) {
        guard !truncated else { return }
        let room = limit - text.utf8.count
        if s.utf8.count <= room {
            text += s
            return
        }
        var end = s.utf8.index(s.utf8.startIndex, offsetBy: max(0, room))
        while end > s.utf8.startIndex, end.samePosition(in: s.unicodeScalars) == nil { end = s.utf8.index(before: end) }
        text += s[..<end]
        truncated = true
    }
}

extension AttemptResult {
    /// A failed result, for errors before or outside the engine's own output.
    static func failure(_ a: Assignment, engine: String, startedAt: Timestamp, error: String, cancelled: Bool = false) -> AttemptResult {
        AttemptResult(
            ref: a.ref, outcome: cancelled ? .cancelled : .failed, error: error, engine: engine,
            startedAt: startedAt, finishedAt: WallClock.now())
    }
}
