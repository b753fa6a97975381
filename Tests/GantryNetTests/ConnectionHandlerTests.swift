import GantryModel
import GantryNet
import GantryWire
import NIOCore
import NIOEmbedded
import Testing

@Suite("Server connection handler")
struct ConnectionHandlerTests {
    let credentials = Credentials(join: Secret("join")!, admin: Secret("admin")!)

    func makeChannel(timeout: TimeAmount = .seconds(5)) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addGantryFraming(maxFrameBytes: 256)
        let creds = credentials
        try channel.pipeline.syncOperations.addHandler(ServerConnectionHandler(configuration: .init(
            credentials: { creds }, serverID: "test", handshakeTimeout: timeout)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return channel
    }

    func send(_ message: WireMessage, to channel: EmbeddedChannel) throws {
        var body = WireEnvelope(message).encode()
        var frame = ByteBuffer()
        frame.writeInteger(UInt32(body.readableBytes), endianness: .big)
        frame.writeBuffer(&body)
        _ = try? channel.writeInbound(frame)
    }

    /// Everything the handler wrote, decoded.
    func written(_ channel: EmbeddedChannel) throws -> [WireMessage] {
        var wire = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&chunk) }
        var out: [WireMessage] = []
        while let length = wire.readInteger(endianness: .big, as: UInt32.self), let body = wire.readSlice(length: Int(length)) {
            out.append(try WireEnvelope(frame: body).message)
        }
        return out
    }

    @Test("no Hello within the timeout: an error frame, then the connection closes")
    func handshakeTimeout() throws {
        let channel = try makeChannel(timeout: .seconds(5))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(4999))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let messages = try written(channel)
        guard case .error(let e, true)? = messages.last else { Issue.record("\(messages)"); return }
        #expect(e.code == .handshakeTimeout)
        #expect(!channel.isActive)
    }

    @Test("a frame before Hello gets a Reject and a close")
    func frameBeforeHello() throws {
        let channel = try makeChannel()
        try send(.adminRequest(.status), to: channel)
        let messages = try written(channel)
        guard case .reject(let r)? = messages.first else { Issue.record("\(messages)"); return }
        #expect(r.error.code == .handshakeRequired)
        #expect(!channel.isActive)
    }

    @Test("a completed handshake cancels the deadline and passes frames through")
    func established() throws {
        let channel = try makeChannel(timeout: .seconds(5))
        try send(.hello(Hello(role: .admin)), to: channel)
        guard case .challenge(let c)? = try written(channel).first else { Issue.record("no challenge"); return }
        try send(.auth(mac: HandshakeAuth.mac(token: Secret("admin")!, role: .admin, nodeID: "", nonce: c.nonce)), to: channel)
        guard case .established(let peer)? = try channel.readInbound(as: ServerInbound.self) else { Issue.record("not established"); return }
        #expect(peer.permission == .admin)
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        try send(.adminRequest(.status), to: channel)
        guard case .frame? = try channel.readInbound(as: ServerInbound.self) else { Issue.record("no frame"); return }
        _ = try? channel.finish()
    }

    @Test("an oversize length gets an error frame naming the limit, then a close")
    func oversize() throws {
        let channel = try makeChannel()
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(1_000_000), endianness: .big)
        _ = try? channel.writeInbound(buffer)
        let messages = try written(channel)
        guard case .reject(let r)? = messages.first else { Issue.record("\(messages)"); return }
        #expect(r.error.code == .frameTooLarge)
        #expect(r.error.message.contains("1000000"))
        #expect(!channel.isActive)
    }

    @Test("a zero-length frame gets a bad_frame error")
    func zeroLength() throws {
        let channel = try makeChannel()
        _ = try? channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 0]))
        guard case .reject(let r)? = try written(channel).first else { Issue.record("no reject"); return }
        #expect(r.error.code == .badFrame)
    }
}
