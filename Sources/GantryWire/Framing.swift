public import NIOCore

/// Why a byte stream is not a valid sequence of frames.
public enum FrameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The declared length is over the receiver's maximum. Raised as soon as the 4-byte
    /// header is read: the body is never buffered.
    case tooLarge(length: UInt32, max: Int)
    /// A zero length: an Envelope always carries a payload.
    case empty
    /// The stream ended inside a frame.
    case truncated(have: Int, want: Int)

    public var description: String {
        switch self {
        case .tooLarge(let length, let max): "frame of \(length) bytes is over the limit of \(max) bytes (max_frame_bytes)"
        case .empty: "zero-length frame"
        case .truncated(let have, let want): "connection closed inside a frame: \(have) of \(want) bytes arrived"
        }
    }
}

/// Splits a byte stream into frames: a 4-byte big-endian length, then that many bytes.
///
/// A value type in the style of grpc-swift's `GRPCMessageDecoder`: it rewinds on a
/// partial frame and checks the length against `maxFrameBytes` before buffering any of
/// the body. Produces the frame body (one serialized Envelope) as a slice.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = ByteBuffer

    public static let headerBytes = 4
    public let maxFrameBytes: Int

    public init(maxFrameBytes: Int) {
        self.maxFrameBytes = maxFrameBytes
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return nil
        }
        guard length > 0 else { throw FrameError.empty }
        guard Int(length) <= maxFrameBytes else { throw FrameError.tooLarge(length: length, max: maxFrameBytes) }
        guard buffer.readableBytes >= Self.headerBytes + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: Self.headerBytes)
        return buffer.readSlice(length: Int(length))
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        if let frame = try decode(buffer: &buffer) { return frame }
        guard buffer.readableBytes > 0 else { return nil }
        let want = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self).map { Int($0) + Self.headerBytes }
        throw FrameError.truncated(have: buffer.readableBytes, want: want ?? Self.headerBytes)
    }
}

/// Prefixes each outbound frame body with its 4-byte big-endian length.
public struct FrameEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = ByteBuffer

    public init() {}

    public func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        out.reserveCapacity(minimumWritableBytes: FrameDecoder.headerBytes + data.readableBytes)
        out.writeInteger(UInt32(data.readableBytes), endianness: .big)
        out.writeImmutableBuffer(data)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Adds the frame decoder and encoder. The decoder's buffer is capped too, so even a
    /// misbehaving decoder could not buffer more than one maximal frame.
    public func addGantryFraming(maxFrameBytes: Int) throws {
        try addHandler(ByteToMessageHandler(FrameDecoder(maxFrameBytes: maxFrameBytes), maximumBufferSize: maxFrameBytes + FrameDecoder.headerBytes))
        try addHandler(MessageToByteHandler(FrameEncoder()))
    }
}
