import GantryModel
import GantryWire
import NIOCore
import NIOPosix

/// A bare protocol peer for bad-input tests: sends whatever frames (or bytes) it is told
/// and reads what comes back, with no handshake logic of its own.
final class RawPeer: @unchecked Sendable {
    let channel: any Channel
    private var iterator: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator

    init(port: Int, framing: Bool = true) async throws {
        let (frames, sink) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if framing { try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameBytes: 1 << 24))) }
                    try channel.pipeline.syncOperations.addHandler(Collector(sink: sink))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        iterator = frames.makeAsyncIterator()
    }

    /// Hands every inbound frame (or chunk, without framing) to the test; the stream ends
    /// when the server closes.
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let sink: AsyncThrowingStream<ByteBuffer, any Error>.Continuation
        init(sink: AsyncThrowingStream<ByteBuffer, any Error>.Continuation) { self.sink = sink }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { sink.yield(unwrapInboundIn(data)) }
        func channelInactive(context: ChannelHandlerContext) { sink.finish() }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            sink.finish(throwing: error)
            context.close(promise: nil)
        }
    }

    /// Sends one framed envelope.
    func send(_ message: WireMessage, requestID: UInt64 = 0) async throws {
        var body = WireEnvelope(message, requestID: requestID).encode()
        var frame = ByteBuffer()
        frame.writeInteger(UInt32(body.readableBytes), endianness: .big)
        frame.writeBuffer(&body)
        try await channel.writeAndFlush(frame)
    }

    /// Sends several framed envelopes in one write (the server reads them as one burst).
    func sendBurst(_ messages: [(WireMessage, UInt64)]) async throws {
        var frames = ByteBuffer()
        for (message, requestID) in messages {
            var body = WireEnvelope(message, requestID: requestID).encode()
            frames.writeInteger(UInt32(body.readableBytes), endianness: .big)
            frames.writeBuffer(&body)
        }
        try await channel.writeAndFlush(frames)
    }

    /// Sends a frame around an Envelope's bytes, whatever they hold.
    func sendBody(_ body: [UInt8]) async throws {
        var frame = ByteBuffer()
        frame.writeInteger(UInt32(body.count), endianness: .big)
        frame.writeBytes(body)
        try await channel.writeAndFlush(frame)
    }

    /// The next envelope (message and request id), or nil once the server closed.
    func receiveEnvelope() async throws -> WireEnvelope? {
        guard let frame = try await iterator.next() else { return nil }
        return try WireEnvelope(frame: frame)
    }

    func sendRaw(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// The next message, or nil once the server closed the connection.
    func receive() async throws -> WireMessage? {
        guard let frame = try await iterator.next() else { return nil }
        return try WireEnvelope(frame: frame).message
    }

    /// Reads until the server closes; returns everything it said.
    func receiveUntilClosed() async throws -> [WireMessage] {
        var all: [WireMessage] = []
        do {
            while let m = try await receive() { all.append(m) }
        } catch {
            // A reset after the final frame is the same as a close here.
        }
        return all
    }

    /// Runs the handshake with `token` and returns the Welcome.
    func handshake(role: PeerRole, nodeID: String = "", token: String) async throws -> WireMessage? {
        try await send(.hello(Hello(role: role, nodeID: nodeID)))
        guard case .challenge(let c)? = try await receive() else { return nil }
        try await send(.auth(mac: HandshakeAuth.mac(token: Secret(token)!, role: role, nodeID: nodeID, nonce: c.nonce)))
        return try await receive()
    }

    func close() async { try? await channel.close() }
}
