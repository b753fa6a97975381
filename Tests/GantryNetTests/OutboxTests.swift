import GantryModel
import GantryNet
import GantryWire
import NIOCore
import NIOEmbedded
import Testing

/// Counts the reads NIO asks for, and holds them back while its `ReadGate` says so, as
/// gantryd's `SessionHandler` does.
private final class GatedReads: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var gate: ReadGate?
    var reads = 0

    func read(context: ChannelHandlerContext) {
        guard gate?.mayRead() ?? true else { return }
        reads += 1
        context.read()
    }
}

@Suite("Outbox on an event loop, and read backpressure")
struct OutboxTests {
    /// A connection with the frame encoder, as every daemon's has.
    func makeChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addGantryFraming(maxFrameBytes: defaultMaxFrameBytes)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return channel
    }

    /// The messages in the frames written so far.
    func written(_ channel: EmbeddedChannel) throws -> [WireMessage] {
        var out: [WireMessage] = []
        var decoder = FrameDecoder(maxFrameBytes: defaultMaxFrameBytes)
        while var wire = try channel.readOutbound(as: ByteBuffer.self) {
            while let frame = try decoder.decode(buffer: &wire) { out.append(try WireEnvelope(frame: frame).message) }
            #expect(wire.readableBytes == 0, "a write ends with a whole frame")
        }
        return out
    }

    @Test("messages sent before the event loop runs go out together, in order, with one flush")
    func batches() throws {
        let channel = try makeChannel()
        let outbox = Outbox(channel: channel)
        #expect(outbox.send(WireEnvelope(.goodbye("one"))))
        #expect(outbox.send(WireEnvelope(.goodbye("two"))))
        #expect(try written(channel).isEmpty)
        channel.embeddedEventLoop.run()
        #expect(try written(channel) == [.goodbye("one"), .goodbye("two")])
        outbox.send(WireEnvelope(.goodbye("three")))
        channel.embeddedEventLoop.run()
        #expect(try written(channel) == [.goodbye("three")])
        #expect(channel.isActive)
    }

    @Test("behind the frame encoder, a flush writes all its frames as one buffer, each with its length, in order")
    func framedBatch() throws {
        let channel = try makeChannel()
        let outbox = Outbox(channel: channel)
        outbox.send(WireEnvelope(.goodbye("one")))
        outbox.close(with: WireEnvelope(.goodbye(String(repeating: "x", count: 1000))))
        channel.embeddedEventLoop.run()
        var wire = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)  // one write
        var decoder = FrameDecoder(maxFrameBytes: defaultMaxFrameBytes)
        var messages: [WireMessage] = []
        while let frame = try decoder.decode(buffer: &wire) { messages.append(try WireEnvelope(frame: frame).message) }
        #expect(messages == [.goodbye("one"), .goodbye(String(repeating: "x", count: 1000))])
        #expect(wire.readableBytes == 0)
        #expect(!channel.isActive)
    }

    @Test("while the peer does not read, messages wait; writable() sends them")
    func waitsForWritability() throws {
        let channel = try makeChannel()
        let outbox = Outbox(channel: channel)
        channel.isWritable = false
        outbox.send(WireEnvelope(.goodbye("held")))
        channel.embeddedEventLoop.run()
        #expect(try written(channel).isEmpty)
        channel.isWritable = true
        outbox.writable()
        channel.embeddedEventLoop.run()
        #expect(try written(channel) == [.goodbye("held")])
    }

    @Test("close(with:) writes what is queued and the last message, then closes; later sends are refused")
    func closeAfterFlush() throws {
        let channel = try makeChannel()
        let outbox = Outbox(channel: channel)
        outbox.send(WireEnvelope(.goodbye("first")))
        outbox.close(with: WireEnvelope(.goodbye("last")))
        #expect(!outbox.send(WireEnvelope(.goodbye("too late"))))
        channel.embeddedEventLoop.run()
        #expect(try written(channel) == [.goodbye("first"), .goodbye("last")])
        #expect(!channel.isActive)
    }

    @Test("more than `limit` queued for a peer that does not read: the connection is cut, nothing written")
    func overflow() throws {
        let channel = try makeChannel()
        let outbox = Outbox(channel: channel, limit: 3)
        channel.isWritable = false
        for i in 0..<3 { #expect(outbox.send(WireEnvelope(.goodbye("\(i)")))) }
        #expect(!outbox.send(WireEnvelope(.goodbye("overflow"))))
        channel.embeddedEventLoop.run()
        #expect(try written(channel).isEmpty)
        #expect(!channel.isActive)
    }

    @Test("a read gate holds reads back at `highFrames` unhandled frames and asks again at `lowFrames`")
    func readGateFrames() throws {
        let channel = try makeChannel()
        let reads = GatedReads()
        try channel.pipeline.syncOperations.addHandler(reads)
        let gate = ReadGate(channel: channel, limits: .init(highFrames: 4, lowFrames: 1))
        reads.gate = gate
        for _ in 0..<3 { gate.posted(bytes: 10) }
        channel.read()
        #expect(reads.reads == 1)
        gate.posted(bytes: 10)
        channel.read()
        #expect(reads.reads == 1)  // 4 unhandled: held back
        gate.handled(frames: 2, bytes: 20)
        #expect(reads.reads == 1)  // 2 left, above low
        gate.handled(frames: 1, bytes: 10)
        #expect(reads.reads == 2)  // down to low: read again
        channel.read()
        #expect(reads.reads == 3)
    }

    @Test("a read gate holds reads back at `highBytes` of unhandled frames, however few")
    func readGateBytes() throws {
        let channel = try makeChannel()
        let reads = GatedReads()
        try channel.pipeline.syncOperations.addHandler(reads)
        let gate = ReadGate(channel: channel, limits: .init(highFrames: 64, lowFrames: 16, highBytes: 1000, lowBytes: 100))
        reads.gate = gate
        gate.posted(bytes: 600)
        channel.read()
        #expect(reads.reads == 1)
        gate.posted(bytes: 600)
        channel.read()
        #expect(reads.reads == 1)  // 1,200 bytes waiting: held back
        gate.handled(frames: 1, bytes: 600)
        #expect(reads.reads == 1)  // 600 left, above low
        gate.handled(frames: 1, bytes: 600)
        #expect(reads.reads == 2)
    }
}
