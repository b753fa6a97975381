import NIOConcurrencyHelpers

/// Tasks waiting for something to happen (an agent going idle, its results acknowledged),
/// woken together by `resumeAll`. Cancelling a waiting task ends its wait.
///
/// A waiter reads `generation` where it checks its condition and passes it to `wait`: a
/// `resumeAll` in between (which bumps the generation) is not missed.
public final class WaitList: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public var generation: UInt64 { state.withLockedValue { $0.generation } }

    /// Waits until `resumeAll` is called after `generation` was read, or the task is cancelled.
    public func wait(since generation: UInt64) async {
        let id = state.withLockedValue { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { s -> Bool in
                    if s.generation != generation || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            state.withLockedValue { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    public func resumeAll() {
        let waiters = state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
            s.generation += 1
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }
}
