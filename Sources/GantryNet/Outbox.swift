public import GantryWire
public import NIOCore
import NIOConcurrencyHelpers

/// A connection's outbound queue: any task may `send` without waiting; one writer task
/// takes everything queued at once and writes it with a single flush.
///
/// Bounded: a peer that stops reading while `limit` messages pile up is cut off rather
/// than growing the daemon's memory.
public final class Outbox: Sendable {
    private struct State {
        var pending: [WireEnvelope] = []
        var waiter: CheckedContinuation<Batch, Never>?
        var closing: Closing?
        var finished = false
    }

    public enum Closing: Sendable, Hashable {
        /// Close after writing what is queued (e.g. a Goodbye or a fatal Error).
        case afterFlush
        /// Too many queued messages: close now.
        case overflow
    }

    public struct Batch: Sendable {
        public var envelopes: [WireEnvelope]
        /// Set when the connection should close once `envelopes` are written.
        public var closing: Closing?
    }

    private let state = NIOLockedValueBox(State())
    public let limit: Int
    /// For control connections: requests are answered as their replies are queued here.
    public let window: RequestWindow?

    public init(limit: Int = 1_000_000, window: RequestWindow? = nil) {
        self.limit = limit
        self.window = window
    }

    /// Queues a message; false if the outbox is closed or overflowed.
    @discardableResult
    public func send(_ envelope: WireEnvelope) -> Bool {
        window?.sent(envelope)
        let (waiter, batch, accepted): (CheckedContinuation<Batch, Never>?, Batch?, Bool) = state.withLockedValue { s in
            guard s.closing == nil, !s.finished else { return (nil, nil, false) }
            if s.pending.count >= limit {
                s.pending.removeAll()
                s.closing = .overflow
            } else {
                s.pending.append(envelope)
            }
            guard let w = s.waiter else { return (nil, nil, s.closing == nil) }
            s.waiter = nil
            let b = Batch(envelopes: s.pending, closing: s.closing)
            s.pending = []
            return (w, b, s.closing == nil)
        }
        if let waiter, let batch { waiter.resume(returning: batch) }
        return accepted
    }

    /// Queues a last message, after which the connection closes.
    public func close(with envelope: WireEnvelope?) {
        let (waiter, batch): (CheckedContinuation<Batch, Never>?, Batch?) = state.withLockedValue { s in
            guard s.closing == nil, !s.finished else { return (nil, nil) }
            if let envelope { s.pending.append(envelope) }
            s.closing = .afterFlush
            guard let w = s.waiter else { return (nil, nil) }
            s.waiter = nil
            let b = Batch(envelopes: s.pending, closing: s.closing)
            s.pending = []
            return (w, b)
        }
        if let waiter, let batch { waiter.resume(returning: batch) }
    }

    /// The next batch; waits while nothing is queued. A batch with `closing` set is the
    /// last one. Returns an empty closing batch once `finish()` was called.
    public func next() async -> Batch {
        await withCheckedContinuation { (c: CheckedContinuation<Batch, Never>) in
            let ready: Batch? = state.withLockedValue { s in
                if !s.pending.isEmpty || s.closing != nil || s.finished {
                    let b = Batch(envelopes: s.pending, closing: s.closing ?? (s.finished ? .afterFlush : nil))
                    s.pending = []
                    return b
                }
                s.waiter = c
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    /// The connection is gone: wake the writer and refuse further messages.
    public func finish() {
        let waiter: CheckedContinuation<Batch, Never>? = state.withLockedValue { s in
            s.finished = true
            let w = s.waiter
            s.waiter = nil
            return w
        }
        waiter?.resume(returning: Batch(envelopes: [], closing: .afterFlush))
    }
}

/// Drains an outbox into a connection: everything queued is written with one flush.
public func writeLoop(outbox: Outbox, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, channel: any Channel) async {
    let allocator = channel.allocator
    while true {
        let batch = await outbox.next()
        if !batch.envelopes.isEmpty {
            do {
                try await outbound.write(contentsOf: batch.envelopes.map { $0.encode(allocator: allocator) })
            } catch {
                channel.close(promise: nil)
                return
            }
        }
        if batch.closing != nil {
            try? await channel.close()
            return
        }
    }
}

