public import NIOCore
import NIOConcurrencyHelpers

/// Hands a client connection's frames after the handshake straight to a consumer, on the
/// channel's event loop, instead of through the `NIOAsyncChannel`'s stream to a reader
/// task: one thread wake-up less for every frame received. It sits between the handshake
/// handler and the async channel, which still sees `.established` (for the handshake) and
/// the end of the connection (the reader's loop ends when the connection does).
///
/// Frames that arrive before `start` wait in order.
public final class FrameTap: ChannelInboundHandler, Sendable {
    public typealias InboundIn = ClientInbound
    public typealias InboundOut = ClientInbound
    public typealias Consumer = @Sendable (ByteBuffer) -> Void

    private struct State {
        var consumer: Consumer?
        var early: [ByteBuffer] = []
    }
    private let state = NIOLockedValueBox(State())

    public init() {}

    /// From now on every frame goes to `consumer`, on the event loop, in order, starting
    /// with those that waited.
    public func start(on channel: any Channel, _ consumer: @escaping Consumer) {
        channel.eventLoop.execute {
            let early: [ByteBuffer] = self.state.withLockedValue { s in
                s.consumer = consumer
                defer { s.early = [] }
                return s.early
            }
            for frame in early { consumer(frame) }
        }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .frame(let frame) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        let consumer: Consumer? = state.withLockedValue { s in
            if s.consumer == nil { s.early.append(frame) }
            return s.consumer
        }
        consumer?(frame)
    }
}
