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
        /// Called for every failed handshake and every connection refused by `admission`
        /// (logging, metrics).
        public var onHandshakeFailure: @Sendable (_ peer: String, _ error: GantryError) -> Void
        /// Connection limits and the failed-handshake penalty; nil admits everyone.
        public var admission: Admission?
        /// Mutual TLS: an agent's node id must be one of its client certificate's names.
        public var bindNodeIDToCertificate = false

        public init(
            credentials: @escaping @Sendable () -> Credentials, serverID: String, handshakeTimeout: TimeAmount,
            admission: Admission? = nil, bindNodeIDToCertificate: Bool = false,
            onHandshakeFailure: @escaping @Sendable (String, GantryError) -> Void = { _, _ in }
        ) {
            self.credentials = credentials
            self.serverID = serverID
            self.handshakeTimeout = handshakeTimeout
            self.admission = admission
            self.bindNodeIDToCertificate = bindNodeIDToCertificate
            self.onHandshakeFailure = onHandshakeFailure
        }
    }

    private let configuration: Configuration
    private var handshake: ServerHandshake
    private var established = false
    private var closing = false
    private var deadline: Scheduled<Void>?
    /// The address this connection holds an admission slot for.
    private var admitted: String?
    /// A challenge held back by the failed-handshake penalty.
    private var heldChallenge: Scheduled<Void>?

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
        if let admission = configuration.admission {
            let peer = peerAddressOnly(context)
            if let refusal = admission.admit(peer) {
                configuration.onHandshakeFailure(peer, refusal)
                closing = true
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                let buffer = WireEnvelope(.error(refusal, fatal: true)).encode(allocator: context.channel.allocator)
                context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in bound.value.close(promise: nil) }
                context.fireChannelActive()
                return
            }
            admitted = peer
        }
        startDeadline(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        heldChallenge?.cancel()
        if let admitted { configuration.admission?.release(admitted) }
        admitted = nil
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed, !established {
            // The peer stopped sending before finishing the handshake: nothing more can come.
            if !closing {
                closing = true
                deadline?.cancel()
                context.close(promise: nil)
            }
            return
        }
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            fail(context: context, GantryError(.idleTimeout, "no frame for too long (limits.idle_timeout); closing"), asReject: !established)
            return
        }
        context.fireUserInboundEventTriggered(event)
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
        if configuration.bindNodeIDToCertificate, case .hello(let hello) = envelope.message, hello.role == .agent {
            let names = GantryTLS.peerNames(context) ?? []
            guard names.contains(hello.nodeID) else {
                let shown = names.isEmpty ? "no client certificate" : "a certificate for \(names.joined(separator: ", "))"
                let r = Reject(GantryError(.badHello, "node id '\(hello.nodeID.prefix(80))' does not match the client certificate (the agent presented \(shown))"))
                configuration.onHandshakeFailure(peerDescription(context), r.error)
                closing = true
                deadline?.cancel()
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.writeAndFlush(wrapOutboundOut(WireEnvelope(.reject(r)).encode(allocator: context.channel.allocator)))
                    .whenComplete { _ in bound.value.close(promise: nil) }
                return
            }
        }
        switch handshake.receive(envelope.message, credentials: configuration.credentials()) {
        case .challenge(let c):
            let buffer = WireEnvelope(.challenge(c)).encode(allocator: context.channel.allocator)
            // At most 80 % of the handshake timeout, so a correct client still gets in.
            let cap = Double(configuration.handshakeTimeout.nanoseconds) / 1e9 * 0.8
            let penalty = configuration.admission?.penalty(for: peerAddressOnly(context), cap: cap) ?? 0
            if penalty > 0 {
                // This address keeps failing the handshake: make it wait. The handshake
                // deadline starts again once the Challenge is sent, so the wait is not held
                // against the client.
                deadline?.cancel()
                deadline = nil
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                heldChallenge = context.eventLoop.scheduleTask(in: .milliseconds(Int64(penalty * 1000))) {
                    let (handler, context) = bound.value
                    guard !handler.closing else { return }
                    context.writeAndFlush(handler.wrapOutboundOut(buffer), promise: nil)
                    handler.startDeadline(context: context)
                }
            } else {
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            }
        case .reject(let r):
            configuration.onHandshakeFailure(peerDescription(context), r.error)
            if r.error.code == .authFailed { configuration.admission?.recordAuthFailure(peerAddressOnly(context)) }
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

    /// The peer's IP address without the port: limits and penalties are per address.
    private func peerAddressOnly(_ context: ChannelHandlerContext) -> String {
        context.remoteAddress?.ipAddress ?? "unknown"
    }
}

/// `1.2.3.4:5678` / `[::1]:5678`.
public func describeAddress(_ address: SocketAddress) -> String {
    guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
    return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
}
