public import GantryCore
import Foundation

/// The store's single writer. Callers hand it changes and get a sequence number back at
/// once; a dedicated thread writes everything that accumulated while the previous
/// transaction was committing in one transaction (group commit), then reports the highest
/// sequence number now durable. Durability never waits for a timer, and throughput is not
/// capped by one fsync per change.
public final class GroupCommitter: @unchecked Sendable {
    public typealias OnCommit = @Sendable (_ durableThrough: UInt64) -> Void
    public typealias OnFailure = @Sendable (_ error: any Error) -> Void

    private let store: Store
    private let onCommit: OnCommit
    private let onFailure: OnFailure
    private let condition = NSCondition()
    private var pending: [StoreChange] = []
    private var submitted: UInt64 = 0
    private var stopping = false
    private var failed = false
    private var thread: Thread?
    private let maxBatch: Int

    /// Transactions written and changes in them (for tests and metrics).
    public private(set) var transactions = 0
    public private(set) var changesWritten = 0
    public private(set) var largestBatch = 0

    public init(store: Store, maxBatch: Int = 50_000, onCommit: @escaping OnCommit, onFailure: @escaping OnFailure) {
        self.store = store
        self.maxBatch = maxBatch
        self.onCommit = onCommit
        self.onFailure = onFailure
    }

    public func start() {
        let t = Thread { [self] in loop() }
        t.name = "gantry-store-writer"
        thread = t
        t.start()
    }

    /// Queues changes; returns the sequence number that becomes durable with them.
    @discardableResult
    public func submit(_ changes: [StoreChange]) -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        pending.append(contentsOf: changes)
        submitted += 1
        condition.signal()
        return submitted
    }

    /// Writes what is queued, then stops the thread.
    public func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
        while thread?.isFinished == false { usleep(1000) }
    }

    private func loop() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopping { condition.wait() }
            if pending.isEmpty || failed {
                condition.unlock()
                return
            }
            let take = min(pending.count, maxBatch)
            let batch = Array(pending.prefix(take))
            pending.removeFirst(take)
            // Everything submitted up to now is in this batch unless it was split.
            let through = pending.isEmpty ? submitted : 0
            condition.unlock()
            do {
                try store.apply(batch)
                transactions += 1
                changesWritten += batch.count
                largestBatch = max(largestBatch, batch.count)
                if through > 0 { onCommit(through) }
            } catch {
                condition.lock()
                failed = true
                condition.unlock()
                onFailure(error)
                return
            }
        }
    }
}
