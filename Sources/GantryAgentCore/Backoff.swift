/// Reconnect delays: exponential from `baseMs` to `maxMs`, with jitter in [½, 1] of the
/// step so a restarted coordinator is not hit by every agent at once.
public struct Backoff: Sendable {
    public let baseMs: Int64
    public let maxMs: Int64
    public private(set) var attempt = 0

    public init(baseMs: Int64 = 200, maxMs: Int64 = 30_000) {
        self.baseMs = baseMs
        self.maxMs = maxMs
    }

    /// The next delay; `unit` is a random number in [0, 1).
    public mutating func next(unit: Double) -> Int64 {
        let step = min(Double(maxMs), Double(baseMs) * pow2(attempt))
        attempt = min(attempt + 1, 62)
        return Int64(step * (0.5 + 0.5 * min(max(unit, 0), 1)))
    }

    public mutating func reset() { attempt = 0 }

    private func pow2(_ n: Int) -> Double {
        var v = 1.0
        for _ in 0..<min(n, 40) { v *= 2 }
        return v
    }
}
