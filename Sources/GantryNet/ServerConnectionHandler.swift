public import GantryModel
public import GantryWire
public import NIOCore

/// What a server connection yields to the async side: first who the peer is, then its frames.
public enum ServerInbound: Sendable {
    case established(EstablishedPeer)
    case frame(ByteBuffer)
}

/// Runs the handshake on the event loop, before any async code sees the connection.
///
/// - Enforces the handshake deadline: no Welcome within `timeout` → Error frame and close.
/// - Drives `ServerHandshake`: anything before Hello, a bad version or a bad MAC gets a
///   Reject naming the problem, then a close.
/// - Turns framing errors (oversize length, empty or truncated frame) into an Error
///   frame and a close, at any time.
/// After the handshake it passes frames through untouched.
public final class ServerConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ServerInbound
    public typealias OutboundOut = ByteBuffer

    public struct Configuration: Sendable {
        public var credentials: @Sendable () -> Credentials
        public var serverID: String
        public var handshakeTimeout: TimeAmount
        /// Called for every failed handshake (logging, metrics, rate limiting).
        public var onHandshakeFailure: @Sendable (_ peer: String, _ error: GantryError) -> Void

        public init(
            credentials: @escaping @Sendable () -> Credentials, serverID: String, handshakeTimeout: TimeAmount,
            onHandshakeFailure: @escaping @Sendable (String, GantryError) -> Void = { _, _ in }
        ) {
            self.credentials = credentials
            self.serverID = serverID
            self.handshakeTimeout = handshakeTimeout
            self.onHandshakeFailure = onHandshakeFailure
        }
    }

    private let configuration: Configuration
    private var handshake: ServerHandshake
    private var established = false
    private var closing = false
    private var deadline: Scheduled<Void>?

    public init(configuration: Configuration) {
        self.configuration = configuration
        var rng = SystemRandomNumberGenerator()
        let nonce = (0..<HandshakeAuth.nonceBytes).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        self.handshake = ServerHandshake(nonce: nonce, serverID: configuration.serverID)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startDeadline(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        startDeadline(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    private func startDeadline(context: ChannelHandlerContext) {
        guard deadline == nil, !established else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: configuration.handshakeTimeout) {
            let (handler, context) = loopBound.value
            guard !handler.established else { return }
            let ms = handler.configuration.handshakeTimeout.nanoseconds / 1_000_000
            handler.fail(context: context, GantryError(.handshakeTimeout, "no completed handshake within \(ms) ms"), asReject: false)
        }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if established {
            context.fireChannelRead(wrapInboundOut(.frame(frame)))
            return
        }
        guard !closing else { return }
        let envelope: WireEnvelope
        do {
            envelope = try WireEnvelope(frame: frame)
        } catch {
            fail(context: context, error, asReject: true)
            return
        }
        switch handshake.receive(envelope.message, credentials: configuration.credentials()) {
        case .challenge(let c):
            context.writeAndFlush(wrapOutboundOut(WireEnvelope(.challenge(c)).encode(allocator: context.channel.allocator)), promise: nil)
        case .reject(let r):
            configuration.onHandshakeFailure(peerDescription(context), r.error)
            closing = true
            deadline?.cancel()
            let buffer = WireEnvelope(.reject(r)).encode(allocator: context.channel.allocator)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in bound.value.close(promise: nil) }
        case .established(let peer):
            established = true
            deadline?.cancel()
            deadline = nil
            context.fireChannelRead(wrapInboundOut(.established(peer)))
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let gantryError: GantryError
        switch error {
        case let e as FrameError:
            switch e {
            case .tooLarge: gantryError = GantryError(.frameTooLarge, e.description)
            case .empty, .truncated: gantryError = GantryError(.badFrame, e.description)
            }
        case let e as GantryError:
            gantryError = e
        default:
            // I/O errors (connection reset…): nothing to tell the peer.
            context.fireErrorCaught(error)
            return
        }
        fail(context: context, gantryError, asReject: !established)
    }

    /// Tells the peer what went wrong, then closes.
    private func fail(context: ChannelHandlerContext, _ error: GantryError, asReject: Bool) {
        guard !closing else { return }
        closing = true
        deadline?.cancel()
        if !established { configuration.onHandshakeFailure(peerDescription(context), error) }
        let message: WireMessage = asReject ? .reject(Reject(error)) : .error(error, fatal: true)
        let buffer = WireEnvelope(message).encode(allocator: context.channel.allocator)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in bound.value.close(promise: nil) }
        context.fireErrorCaught(error)
    }

    private func peerDescription(_ context: ChannelHandlerContext) -> String {
        context.remoteAddress.map(describeAddress) ?? "unknown"
    }
}

/// `1.2.3.4:5678` / `[::1]:5678`.
public func describeAddress(_ address: SocketAddress) -> String {
    guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
    return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
}
