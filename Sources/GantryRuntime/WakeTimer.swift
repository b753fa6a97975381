public import GantryModel
import NIOConcurrencyHelpers

/// When a core next needs its periodic work done. The core asks (`wakeUp(at:)` directives)
/// and a ticker service sleeps until the earliest time asked for, or `longest` at most.
public final class WakeTimer: Sendable {
    private struct State {
        var next: Timestamp?
        var sleeper: CheckedContinuation<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())
    /// The longest the ticker sleeps whatever was asked (a safety net for clock jumps).
    public let longestMs: Int64

    public init(longestMs: Int64 = 10_000) {
        self.longestMs = longestMs
    }

    /// Asks to be woken at `at` (or earlier, if something else asked for earlier).
    public func wake(at: Timestamp) {
        let sleeper: CheckedContinuation<Void, Never>? = state.withLockedValue { s in
            guard s.next.map({ at < $0 }) ?? true else { return nil }
            s.next = at
            let w = s.sleeper
            s.sleeper = nil
            return w
        }
        sleeper?.resume()
    }

    /// Sleeps until the earliest time asked for (as of `now()`), or until `longestMs` passed.
    /// Returns when due; the caller then does its work and calls this again.
    public func sleepUntilDue(now: @Sendable () -> Timestamp) async throws {
        let start = now()
        while true {
            try Task.checkCancellation()
            let current = now()
            let due: Timestamp = state.withLockedValue { s in
                let longest = start + longestMs
                return s.next.map { min($0, longest) } ?? longest
            }
            if current >= due {
                state.withLockedValue { if let n = $0.next, n <= current { $0.next = nil } }
                return
            }
            // Sleep until due, or until an earlier wake-up is asked for.
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(due - current))
                }
                group.addTask { [state] in
                    await withTaskCancellationHandler {
                        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                            let resumeNow = state.withLockedValue { s -> Bool in
                                if let n = s.next, n < due { return true }
                                if let old = s.sleeper { old.resume() }
                                s.sleeper = c
                                return false
                            }
                            if resumeNow { c.resume() }
                        }
                    } onCancel: { [state] in
                        let w: CheckedContinuation<Void, Never>? = state.withLockedValue { s in
                            let w = s.sleeper
                            s.sleeper = nil
                            return w
                        }
                        w?.resume()
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
    }
}
