import GantryModel
import NIOConcurrencyHelpers

extension Agent {
    /// Runs every attempt the core starts, each in a child task of one task group, until the
    /// calling task is cancelled and the running attempts have ended.
    nonisolated func runAttempts() async {
        await withDiscardingTaskGroup { group in
            for await (assignment, stop) in starts {
                group.addTask { await self.run(assignment, stop: stop) }
            }
        }
    }

    /// One attempt: the engine runs until it finishes, or until the attempt's stop signal
    /// fires (a cancel or a shutdown), which cancels the engine's task; the engine then
    /// ends with a cancelled result. Either way the result goes to the core.
    nonisolated func run(_ assignment: Assignment, stop: StopSignal) async {
        guard let engine = engines[assignment.engine] else { return }
        let result: AttemptResult = await withTaskGroup(of: AttemptResult?.self) { group in
            group.addTask {
                await engine.run(assignment) { [weak self] p in await self?.progress(p) }
            }
            group.addTask {
                await stop.wait()
                return nil
            }
            var result: AttemptResult?
            while let next = await group.next() {
                group.cancelAll()
                if let next { result = next }
            }
            return result!
        }
        await finished(result)
    }
}

/// Fires once; `wait` returns when it has (or when the waiting task is cancelled).
final class StopSignal: Sendable {
    private struct State {
        var fired = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())

    func fire() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLockedValue { s in
            s.fired = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { s -> Bool in
                    if s.fired { return true }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            fire()
        }
    }
}
