public import NIOCore
import NIOConcurrencyHelpers

/// A connection's backpressure when its frames are handed on without a task to await
/// them: while `highFrames` of them, or `highBytes` of their bytes, wait to be handled (in
/// gantryd, in the coordinator's `SessionInbox`), the connection's handler stops asking
/// the socket for more (NIO's `read`), and reading resumes once they are down to
/// `lowFrames` and `lowBytes`. So a peer that sends faster than the coordinator handles
/// fills its own socket buffers, not gantryd's memory: a connection holds at most about
/// `highBytes` plus one frame in waiting.
public final class ReadGate: Sendable {
    public struct Limits: Sendable {
        public var highFrames: Int
        public var lowFrames: Int
        public var highBytes: Int
        public var lowBytes: Int

        public init(highFrames: Int = 64, lowFrames: Int = 16, highBytes: Int = 4 * 1024 * 1024, lowBytes: Int = 1024 * 1024) {
            precondition(lowFrames < highFrames && lowBytes < highBytes, "a low watermark must be below its high one")
            self.highFrames = highFrames
            self.lowFrames = lowFrames
            self.highBytes = highBytes
            self.lowBytes = lowBytes
        }
    }

    private struct State {
        var frames = 0
        var bytes = 0
        var paused = false
    }

    private let state = NIOLockedValueBox(State())
    private let channel: any Channel
    public let limits: Limits

    public init(channel: any Channel, limits: Limits = Limits()) {
        self.channel = channel
        self.limits = limits
    }

    /// On the event loop, for each frame handed on.
    public func posted(bytes: Int) {
        state.withLockedValue { s in
            s.frames += 1
            s.bytes += bytes
        }
    }

    /// On the event loop, when NIO wants to read: false holds the read back.
    public func mayRead() -> Bool {
        state.withLockedValue { s in
            if s.frames >= limits.highFrames || s.bytes >= limits.highBytes { s.paused = true }
            return !s.paused
        }
    }

    /// From whoever handles the frames: `frames` of them, `bytes` in all, were handled.
    public func handled(frames: Int, bytes: Int) {
        let resume = state.withLockedValue { s in
            s.frames -= frames
            s.bytes -= bytes
            guard s.paused, s.frames <= limits.lowFrames, s.bytes <= limits.lowBytes else { return false }
            s.paused = false
            return true
        }
        if resume { channel.read() }
    }
}
