public import NIOConcurrencyHelpers

/// A single writer with group commit.
///
/// Callers hand it changes and get a sequence number back at once. The writer writes
/// everything that accumulated while its previous write was in progress as one batch (one
/// transaction, one fsync), then reports the highest sequence number that batch made
/// durable. Durability never waits on a timer, and throughput is not capped at one fsync
/// per change. Once finished (or cancelled) it writes what is queued, then returns.
///
/// The coordinator's store and the agent's result spool both use it: each runs `run` from a
/// service of its own, with callbacks into its shell.
public final class GroupCommit<Change: Sendable>: Sendable {
    public typealias Write = @Sendable (_ batch: [Change]) async throws -> Void
    public typealias Committed = (_ durableThrough: UInt64) async -> Void
    public typealias Failed = (_ error: any Error) async -> Void

    /// What the writer has done so far (tests and metrics).
    public struct Stats: Sendable, Hashable {
        public var transactions = 0
        public var changes = 0
        public var largestBatch = 0
    }

    @usableFromInline
    struct State: Sendable {
        @usableFromInline var pending: [Change] = []
        @usableFromInline var submitted: UInt64 = 0
        @usableFromInline var waiter: CheckedContinuation<Void, Never>?
        var stopping = false
        var failed = false
        var stats = Stats()
    }

    @usableFromInline let state = NIOLockedValueBox(State())
    private let maxBatch: Int
    private let write: Write

    /// `write` makes a batch durable, or throws: the writer then reports the failure and
    /// stops, and nothing after the failure is ever reported committed.
    public init(maxBatch: Int = 50_000, write: @escaping Write) {
        self.maxBatch = max(1, maxBatch)
        self.write = write
    }

    /// Queues changes; returns the sequence number that becomes durable with them.
    /// (Inlinable, so the caller's module specialises it for its changes' type.)
    @inlinable @discardableResult
    public func submit(_ changes: [Change]) -> UInt64 {
        let (seq, waiter): (UInt64, CheckedContinuation<Void, Never>?) = state.withLockedValue { s in
            s.pending.append(contentsOf: changes)
            s.submitted += 1
            let w = s.waiter
            s.waiter = nil
            return (s.submitted, w)
        }
        waiter?.resume()
        return seq
    }

    public var stats: Stats { state.withLockedValue { $0.stats } }

    /// Ends the writer once what is queued is written (what graceful shutdown does).
    public func finish() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLockedValue { s in
            s.stopping = true
            let w = s.waiter
            s.waiter = nil
            return w
        }
        waiter?.resume()
    }

    /// Writes batches until `finish()` (or cancellation), then what is still queued.
    /// `committed` hears the highest durable sequence number after each batch; `failed`
    /// hears a write's error, after which nothing more is written.
    public func run(committed: Committed, failed: Failed) async {
        await withTaskCancellationHandler {
            await loop(committed: committed, failed: failed)
        } onCancel: {
            finish()
        }
    }

    private func loop(committed: Committed, failed: Failed) async {
        while let (batch, through) = await next() {
            do {
                try await write(batch)
            } catch {
                state.withLockedValue { $0.failed = true }
                await failed(error)
                return
            }
            state.withLockedValue { s in
                s.stats.transactions += 1
                s.stats.changes += batch.count
                s.stats.largestBatch = max(s.stats.largestBatch, batch.count)
            }
            if through > 0 { await committed(through) }
        }
    }

    /// The next batch, and the sequence number it completes (0 when it was split and more
    /// of the same submissions follow). Nil once stopping with nothing left.
    private func next() async -> ([Change], UInt64)? {
        while true {
            let step: Step = state.withLockedValue { s in
                if s.failed { return .done }
                if !s.pending.isEmpty {
                    if s.pending.count <= maxBatch {
                        // Handed over whole: no copy of the changes (each a retain, and a
                        // release when the copy's source is emptied).
                        let batch = s.pending
                        s.pending = []
                        return .batch(batch, s.submitted)
                    }
                    let batch = Array(s.pending.prefix(maxBatch))
                    s.pending.removeFirst(maxBatch)
                    return .batch(batch, 0)
                }
                return s.stopping ? .done : .wait
            }
            switch step {
            case .batch(let b, let through): return (b, through)
            case .done: return nil
            case .wait:
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let ready = state.withLockedValue { s in
                        if !s.pending.isEmpty || s.stopping || s.failed { return true }
                        s.waiter = c
                        return false
                    }
                    if ready { c.resume() }
                }
            }
        }
    }

    private enum Step {
        case batch([Change], UInt64)
        case done
        case wait
    }
}
