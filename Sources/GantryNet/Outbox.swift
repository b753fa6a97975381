public import GantryWire
public import NIOCore
import NIOConcurrencyHelpers

/// A connection's outbound queue: any task may `send` without waiting; everything queued
/// is written with a single flush, either by one writer task (`writeLoop`, the clients'
/// `NIOAsyncChannel` connections) or, for an outbox made with `init(channel:)` (gantryd's
/// connections, which have no task of their own), on the channel's event loop: the first
/// `send` after a flush schedules the next one, and everything queued until it runs goes
/// out with it.
///
/// Bounded: a peer that stops reading while `limit` messages pile up is cut off rather
/// than growing the daemon's memory.
public final class Outbox: Sendable {
    private struct State {
        var pending: [WireEnvelope] = []
        var waiter: CheckedContinuation<Batch, Never>?
        var closing: Closing?
        var finished = false
        /// `init(channel:)`: a flush is scheduled on the event loop and has not run yet.
        var flushScheduled = false
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

    /// Written to directly on its event loop (see the type's comment), or nil: `writeLoop`.
    private let channel: (any Channel)?

    public init(limit: Int = 1_000_000, window: RequestWindow? = nil) {
        self.limit = limit
        self.window = window
        self.channel = nil
    }

    /// An outbox that writes to `channel` on its event loop, with no task. While the
    /// channel is not writable (the peer is not reading) messages stay queued, up to
    /// `limit`; call `writable()` when it becomes writable again.
    public init(channel: any Channel, limit: Int = 1_000_000, window: RequestWindow? = nil) {
        self.limit = limit
        self.window = window
        self.channel = channel
    }

    /// What a change of state asks for after the lock is released.
    private enum Wake {
        case none
        case resume(CheckedContinuation<Batch, Never>, Batch)
        case flush
    }

    /// Under the lock, after a change: hand the batch to a waiting writer task, or
    /// schedule a flush on the event loop.
    private func wake(_ s: inout State) -> Wake {
        if channel != nil {
            guard !s.flushScheduled, !s.pending.isEmpty || s.closing != nil else { return .none }
            s.flushScheduled = true
            return .flush
        }
        guard let w = s.waiter else { return .none }
        s.waiter = nil
        let b = Batch(envelopes: s.pending, closing: s.closing)
        s.pending = []
        return .resume(w, b)
    }

    private func perform(_ wake: Wake) {
        switch wake {
        case .none:
            break
        case .resume(let waiter, let batch):
            waiter.resume(returning: batch)
        case .flush:
            guard let channel else { return }
            channel.eventLoop.execute { self.flushToChannel() }
        }
    }

    /// On the event loop: writes everything queued with one flush, then closes if asked.
    private func flushToChannel() {
        guard let channel else { return }
        let batch: Batch? = state.withLockedValue { s in
            s.flushScheduled = false
            // The connection is gone: nothing to write to.
            guard !s.finished else {
                s.pending = []
                return nil
            }
            // A peer that does not read: keep what is queued until it does (or `limit`).
            guard channel.isWritable || s.closing == .overflow else { return nil }
            let b = Batch(envelopes: s.pending, closing: s.closing)
            s.pending = []
            return b
        }
        guard let batch, !batch.envelopes.isEmpty || batch.closing != nil else { return }
        if batch.closing == .overflow {
            channel.close(promise: nil)
            return
        }
        let allocator = channel.allocator
        for envelope in batch.envelopes.dropLast() {
            channel.write(envelope.encode(allocator: allocator), promise: nil)
        }
        if let last = batch.envelopes.last {
            let written: EventLoopFuture<Void> = channel.writeAndFlush(last.encode(allocator: allocator))
            if batch.closing != nil {
                written.whenComplete { _ in channel.close(promise: nil) }
            }
        } else if batch.closing != nil {
            channel.close(promise: nil)
        }
    }

    /// `init(channel:)`: the channel became writable again; write what waited.
    public func writable() {
        perform(state.withLockedValue { s in wake(&s) })
    }

    /// Queues a message; false if the outbox is closed or overflowed.
    @discardableResult
    public func send(_ envelope: WireEnvelope) -> Bool {
        window?.sent(envelope)
        let (wake, accepted): (Wake, Bool) = state.withLockedValue { s in
            guard s.closing == nil, !s.finished else { return (.none, false) }
            if s.pending.count >= limit {
                s.pending.removeAll()
                s.closing = .overflow
            } else {
                s.pending.append(envelope)
            }
            return (self.wake(&s), s.closing == nil)
        }
        perform(wake)
        return accepted
    }

    /// Queues a last message, after which the connection closes.
    public func close(with envelope: WireEnvelope?) {
        perform(state.withLockedValue { s in
            guard s.closing == nil, !s.finished else { return .none }
            if let envelope { s.pending.append(envelope) }
            s.closing = .afterFlush
            return wake(&s)
        })
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


/// For an outbox written on the event loop (`init(channel:)`) in a pipeline that has no
/// handler of its own to tell it: writes what was held back once the peer reads again.
public final class OutboxWritabilityHandler: ChannelInboundHandler, Sendable {
    public typealias InboundIn = NIOAny
    let outbox: Outbox

    public init(outbox: Outbox) { self.outbox = outbox }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { outbox.writable() }
        context.fireChannelWritabilityChanged()
    }
}
