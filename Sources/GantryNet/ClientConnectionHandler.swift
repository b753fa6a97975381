import GantryModel
public import GantryWire
public import NIOCore
import NIOSSL

/// What a client connection yields: the server's Welcome, then its frames.
public enum ClientInbound: Sendable {
    case established(Welcome)
    case frame(ByteBuffer)
}

/// The client half of the handshake, on the event loop: sends Hello on connect, answers
/// the Challenge, and yields the Welcome. A Reject, an Error or the deadline passing
/// surfaces as a thrown `GantryError` on the inbound stream.
public final class ClientConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ClientInbound
    public typealias OutboundOut = ByteBuffer

    private var handshake: ClientHandshake
    private let timeout: TimeAmount
    private var established = false
    private var failed = false
    private var deadline: Scheduled<Void>?

    public init(handshake: ClientHandshake, timeout: TimeAmount) {
        self.handshake = handshake
        self.timeout = timeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        if !established && !failed {
            failed = true
            context.fireErrorCaught(GantryError(.unavailable, "the server closed the connection during the handshake"))
        }
        context.fireChannelInactive()
    }

    private func start(context: ChannelHandlerContext) {
        guard deadline == nil else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let ms = timeout.nanoseconds / 1_000_000
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.fail(context: context, GantryError(.handshakeTimeout, "the server did not complete the handshake within \(ms) ms"))
        }
        write(handshake.hello, context: context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if established {
            context.fireChannelRead(wrapInboundOut(.frame(frame)))
            return
        }
        guard !failed else { return }
        let envelope: WireEnvelope
        do {
            envelope = try WireEnvelope(frame: frame)
        } catch {
            fail(context: context, error)
            return
        }
        switch handshake.receive(envelope.message) {
        case .send(let m):
            write(m, context: context)
        case .established(let welcome):
            established = true
            deadline?.cancel()
            context.fireChannelRead(wrapInboundOut(.established(welcome)))
        case .failed(let e):
            fail(context: context, e)
        case .redirect(let r):
            guard !failed else { return }
            failed = true
            deadline?.cancel()
            context.fireErrorCaught(r)
            context.close(promise: nil)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !established, !failed, error is NIOSSLError || "\(type(of: error))".contains("BoringSSL") {
            fail(context: context, GantryError(.unavailable, "TLS handshake failed: \(error)"))
            return
        }
        if let e = error as? FrameError {
            let code: ErrorCode = if case .tooLarge = e { .frameTooLarge } else { .badFrame }
            fail(context: context, GantryError(code, "from the server: \(e)"))
            return
        }
        context.fireErrorCaught(error)
    }

    private func write(_ message: WireMessage, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(WireEnvelope(message).encode(allocator: context.channel.allocator)), promise: nil)
    }

    private func fail(context: ChannelHandlerContext, _ error: GantryError) {
        guard !failed else { return }
        failed = true
        deadline?.cancel()
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
