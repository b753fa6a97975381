public import GantryWire
public import NIOCore
import NIOConcurrencyHelpers

/// A connection's outbound queue: any task may `send` without waiting; everything queued
/// is written with a single flush on the channel's event loop, with no writer task: the
/// first `send` after a flush schedules the next one, and everything queued until it runs
/// goes out with it.
///
/// Bounded: a peer that stops reading while `limit` messages pile up is cut off rather
/// than growing the daemon's memory.
public final class Outbox: Sendable {
    private struct State {
        var pending: [WireEnvelope] = []
        var closing: Closing?
        var finished = false
        /// A flush is scheduled on the event loop and has not run yet.
        var flushScheduled = false
    }

    public enum Closing: Sendable, Hashable {
        /// Close after writing what is queued (e.g. a Goodbye or a fatal Error).
        case afterFlush
        /// Too many queued messages: close now.
        case overflow
    }

    private struct Batch {
        var envelopes: [WireEnvelope]
        /// Set when the connection should close once `envelopes` are written.
        var closing: Closing?
    }

    private let state = NIOLockedValueBox(State())
    public let limit: Int
    /// For control connections: requests are answered as their replies are queued here.
    public let window: RequestWindow?

    private let channel: any Channel

    /// An outbox that writes to `channel` on its event loop, with no task. While the
    /// channel is not writable (the peer is not reading) messages stay queued, up to
    /// `limit`; call `writable()` when it becomes writable again.
    public init(channel: any Channel, limit: Int = 1_000_000, window: RequestWindow? = nil) {
        self.limit = limit
        self.window = window
        self.channel = channel
    }

    /// Under the lock, after a change: whether a flush must be scheduled on the event loop.
    private func wake(_ s: inout State) -> Bool {
        guard !s.flushScheduled, !s.pending.isEmpty || s.closing != nil else { return false }
        s.flushScheduled = true
        return true
    }

    private func perform(_ flush: Bool) {
        if flush { channel.eventLoop.execute { self.flushToChannel() } }
    }

    /// On the event loop: writes everything queued with one flush, then closes if asked.
    private func flushToChannel() {
        let channel = self.channel
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
        guard !batch.envelopes.isEmpty else {
            channel.close(promise: nil)
            return
        }
        // Every frame of the batch in one buffer (one allocation, one trip down the pipeline
        // and one write for the lot), written below the frame encoder, or straight to a
        // channel that has none.
        var frames = channel.allocator.buffer(capacity: batch.envelopes.count * 128)
        for envelope in batch.envelopes { envelope.encodeFrame(into: &frames) }
        let written: EventLoopFuture<Void>
        if let framer = try? channel.pipeline.syncOperations.context(handlerType: MessageToByteHandler<FrameEncoder>.self) {
            written = framer.writeAndFlush(NIOAny(frames))
        } else {
            written = channel.writeAndFlush(frames)
        }
        if batch.closing != nil { written.whenComplete { _ in channel.close(promise: nil) } }
    }

    /// The channel became writable again; write what waited.
    public func writable() {
        perform(state.withLockedValue { s in wake(&s) })
    }

    /// Queues a message; false if the outbox is closed or overflowed.
    @discardableResult
    public func send(_ envelope: WireEnvelope) -> Bool {
        window?.sent(envelope)
        let (wake, accepted): (Bool, Bool) = state.withLockedValue { s in
            guard s.closing == nil, !s.finished else { return (false, false) }
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
            guard s.closing == nil, !s.finished else { return false }
            if let envelope { s.pending.append(envelope) }
            s.closing = .afterFlush
            return wake(&s)
        })
    }

    /// The connection is gone: refuse further messages.
    public func finish() {
        state.withLockedValue { $0.finished = true }
    }
}

/// For an outbox in a pipeline that has no handler of its own to tell it: writes what was
/// held back once the peer reads again.
public final class OutboxWritabilityHandler: ChannelInboundHandler, Sendable {
    public typealias InboundIn = NIOAny
    let outbox: Outbox

    public init(outbox: Outbox) { self.outbox = outbox }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { outbox.writable() }
        context.fireChannelWritabilityChanged()
    }
}
