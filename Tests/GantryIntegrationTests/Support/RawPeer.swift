import GantryModel
import GantryWire
import NIOCore
import NIOPosix

/// A bare protocol peer for bad-input tests: sends whatever frames (or bytes) it is told
/// and reads what comes back, with no handshake logic of its own.
final class RawPeer: @unchecked Sendable {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    init(port: Int, framing: Bool = true) async throws {
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if framing { try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameBytes: 1 << 24))) }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        iterator = channel.inbound.makeAsyncIterator()
        outbound = channel.outbound
    }

    /// Sends one framed envelope.
    func send(_ message: WireMessage, requestID: UInt64 = 0) async throws {
        var body = WireEnvelope(message, requestID: requestID).encode()
        var frame = ByteBuffer()
        frame.writeInteger(UInt32(body.readableBytes), endianness: .big)
        frame.writeBuffer(&body)
        try await outbound.write(frame)
    }

    func sendRaw(_ bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
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

    func close() async { try? await channel.channel.close() }
}
