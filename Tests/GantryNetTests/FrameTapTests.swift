import GantryWire
import GantryNet
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@Suite("Frame tap: a client's frames handed over on the event loop")
struct FrameTapTests {
    func frame(_ byte: UInt8) -> ByteBuffer { ByteBuffer(bytes: [byte]) }

    @Test("the handshake's result goes on to the stream; frames wait for start, then go to the consumer in order and nowhere else")
    func order() throws {
        let tap = FrameTap()
        let channel = EmbeddedChannel(handler: tap)
        let got = NIOLockedValueBox<[UInt8]>([])

        try channel.writeInbound(ClientInbound.established(Welcome(version: 1, sessionID: "s1")))
        try channel.writeInbound(ClientInbound.frame(frame(1)))
        try channel.writeInbound(ClientInbound.frame(frame(2)))
        guard case .established? = try channel.readInbound(as: ClientInbound.self) else {
            Issue.record("the handshake's result was not passed on")
            return
        }
        #expect(got.withLockedValue { $0 }.isEmpty)

        tap.start(on: channel) { buffer in got.withLockedValue { $0 += buffer.readableBytesView } }
        try channel.writeInbound(ClientInbound.frame(frame(3)))
        channel.embeddedEventLoop.run()
        #expect(got.withLockedValue { $0 } == [1, 2, 3])
        let passedOn = try channel.readInbound(as: ClientInbound.self)
        #expect(passedOn == nil, "frames are not passed on to the stream")
        _ = try channel.finish()
    }
}
