import GantryWire
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@Suite("Frame codec")
struct FrameCodecTests {
    func frame(_ body: [UInt8]) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(UInt32(body.count), endianness: .big)
        b.writeBytes(body)
        return b
    }

    @Test("frames round-trip through encoder and decoder")
    func roundTrip() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addGantryFraming(maxFrameBytes: 1024)
        let bodies: [[UInt8]] = [[1], Array(repeating: 7, count: 1024), Array("hello".utf8)]
        for body in bodies { try channel.writeOutbound(ByteBuffer(bytes: body)) }
        var wire = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&chunk) }
        #expect(wire.readableBytes == bodies.reduce(0) { $0 + 4 + $1.count })
        try channel.writeInbound(wire)
        for body in bodies {
            let decoded = try channel.readInbound(as: ByteBuffer.self)
            #expect(decoded.map { Array($0.readableBytesView) } == body)
        }
        #expect(try channel.finish().isClean)
    }

    @Test("every input split at every byte decodes the same frames")
    func everySplit() throws {
        let bodies: [[UInt8]] = [[0x42], Array(0..<200).map { UInt8($0) }, [9, 9, 9]]
        var input = ByteBuffer()
        for b in bodies {
            var f = frame(b)
            input.writeBuffer(&f)
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(input, bodies.map { ByteBuffer(bytes: $0) })],
            decoderFactory: { FrameDecoder(maxFrameBytes: 1024) })
    }

    @Test("a length over the maximum is refused as soon as the header arrives")
    func overMaximum() throws {
        var decoder = FrameDecoder(maxFrameBytes: 100)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(101), endianness: .big)  // header only: no body buffered
        #expect(throws: FrameError.tooLarge(length: 101, max: 100)) { _ = try decoder.decode(buffer: &buffer) }
        var huge = ByteBuffer()
        huge.writeInteger(UInt32.max, endianness: .big)
        #expect(throws: FrameError.tooLarge(length: UInt32.max, max: 100)) { _ = try decoder.decode(buffer: &huge) }
    }

    @Test("exactly the maximum is accepted")
    func atMaximum() throws {
        var decoder = FrameDecoder(maxFrameBytes: 100)
        var buffer = frame(Array(repeating: 1, count: 100))
        let out = try decoder.decode(buffer: &buffer)
        #expect(out?.readableBytes == 100)
    }

    @Test("a zero length is refused")
    func zeroLength() throws {
        var decoder = FrameDecoder(maxFrameBytes: 100)
        var buffer = ByteBuffer(bytes: [0, 0, 0, 0])
        #expect(throws: FrameError.empty) { _ = try decoder.decode(buffer: &buffer) }
    }

    @Test("garbage (an ASCII request) is refused by length, not buffered")
    func garbage() throws {
        var decoder = FrameDecoder(maxFrameBytes: 4 * 1024 * 1024)
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n")  // "GET " is 1.1 GiB as a length
        #expect(throws: FrameError.self) { _ = try decoder.decode(buffer: &buffer) }
    }

    @Test("a frame truncated at EOF is an error naming what arrived")
    func truncated() throws {
        var decoder = FrameDecoder(maxFrameBytes: 100)
        var buffer = ByteBuffer(bytes: [0, 0, 0, 10, 1, 2, 3])
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(throws: FrameError.truncated(have: 7, want: 14)) { _ = try decoder.decodeLast(buffer: &buffer, seenEOF: true) }
        var header = ByteBuffer(bytes: [0, 0])
        #expect(throws: FrameError.truncated(have: 2, want: 4)) { _ = try decoder.decodeLast(buffer: &header, seenEOF: true) }
        var empty = ByteBuffer()
        #expect(try decoder.decodeLast(buffer: &empty, seenEOF: true) == nil)
    }

    @Test("the pipeline surfaces an oversize frame as an error")
    func pipelineOversize() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addGantryFraming(maxFrameBytes: 16)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(17), endianness: .big)
        #expect(throws: FrameError.tooLarge(length: 17, max: 16)) { try channel.writeInbound(buffer) }
        _ = try? channel.finish()
    }
}
