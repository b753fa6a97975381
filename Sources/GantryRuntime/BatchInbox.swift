public import NIOConcurrencyHelpers

/// A queue from any number of producers to one consumer task, which takes everything
/// queued at each wake-up: the producer appends under a lock and wakes the consumer only
/// if no wake-up is pending, and the consumer (`for await _ in signals { … drain() … }`)
/// applies the whole batch in one turn. Items come out in the order they went in.
///
/// Unlike an `AsyncStream` of the items, taking an item costs nothing per item waiting
/// (an `AsyncStream` buffer is an array it removes from the front) and there is one
/// wake-up per batch, not per item. Inlinable, so each user specialises it for its items.
public final class BatchInbox<Element: Sendable>: Sendable {
    @usableFromInline
    struct State: Sendable {
        @usableFromInline var items: [Element] = []
        @usableFromInline var signalled = false
        @usableFromInline init() {}
    }

    @usableFromInline let state = NIOLockedValueBox(State())
    @usableFromInline let signal: AsyncStream<Void>.Continuation
    /// One element per wake-up (at most one pending); the stream ends with `finish()`.
    public let signals: AsyncStream<Void>

    public init() {
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    @inlinable
    public func post(_ item: Element) {
        let wake = state.withLockedValue { s in
            s.items.append(item)
            defer { s.signalled = true }
            return !s.signalled
        }
        if wake { signal.yield() }
    }

    /// Everything posted so far, in order.
    @inlinable
    public func drain() -> [Element] {
        state.withLockedValue { s in
            s.signalled = false
            defer { s.items.removeAll(keepingCapacity: true) }
            return s.items
        }
    }

    /// Ends `signals` (what is still queued can be drained).
    public func finish() { signal.finish() }
}
