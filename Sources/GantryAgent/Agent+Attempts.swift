import GantryModel
import GantryRuntime
import NIOConcurrencyHelpers

extension Agent {
    /// Runs every attempt the core starts, each in a child task of one task group, until the
    /// calling task is cancelled and the running attempts have ended. The starts come in
    /// batches (a coordinator sends hundreds of assignments at once under load).
    nonisolated func runAttempts() async {
        await withDiscardingTaskGroup { group in
            for await _ in starts.signals {
                for (assignment, stop) in starts.drain() {
                    group.addTask { await self.run(assignment, stop: stop) }
                }
            }
        }
    }

    /// One attempt: the engine runs in a task of its own until it finishes, or until the
    /// attempt's stop signal fires (a cancel or a shutdown) or this task is cancelled, which
    /// cancel the engine's task; the engine then ends with a cancelled result. Either way
    /// the result goes to the core. (Not a task group with a child waiting for the signal:
    /// that is two more tasks, and a cancellation, on every attempt's path.)
    nonisolated func run(_ assignment: Assignment, stop: StopSignal) async {
        guard let engine = engines[assignment.engine] else { return }
        let work = Task { await engine.run(assignment) { [weak self] p in await self?.progress(p) } }
        stop.onFire { work.cancel() }
        let result = await withTaskCancellationHandler { await work.value } onCancel: { work.cancel() }
        await finished(result)
    }
}

/// Fires once, running what was registered with `onFire` (at once for what registers after).
final class StopSignal: Sendable {
    private struct State {
        var fired = false
        var action: (@Sendable () -> Void)?
    }

    private let state = NIOLockedValueBox(State())

    func fire() {
        let action: (@Sendable () -> Void)? = state.withLockedValue { s in
            s.fired = true
            defer { s.action = nil }
            return s.action
        }
        action?()
    }

    func onFire(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLockedValue { s -> Bool in
            if s.fired { return true }
            s.action = action
            return false
        }
        if now { action() }
    }
}
