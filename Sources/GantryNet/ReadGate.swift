public import NIOCore
import NIOConcurrencyHelpers

/// A connection's backpressure when its frames are handed on without a task to await
/// them: while `high` of them wait to be handled (in gantryd, in the coordinator's
/// `SessionInbox`), the connection's handler stops asking the socket for more (NIO's
/// `read`), and reading resumes once they are down to `low`. So a peer that sends faster
/// than the coordinator handles fills its own socket buffers, not gantryd's memory.
public final class ReadGate: Sendable {
    private struct State {
        var pending = 0
        var paused = false
    }

    private let state = NIOLockedValueBox(State())
    private let channel: any Channel
    public let high: Int
    public let low: Int

    public init(channel: any Channel, high: Int = 512, low: Int = 64) {
        precondition(low < high, "low must be below high")
        self.channel = channel
        self.high = high
        self.low = low
    }

    /// On the event loop, for each frame posted.
    public func posted() {
        state.withLockedValue { $0.pending += 1 }
    }

    /// On the event loop, when NIO wants to read: false holds the read back.
    public func mayRead() -> Bool {
        state.withLockedValue { s in
            if s.pending >= high { s.paused = true }
            return !s.paused
        }
    }

    /// From the coordinator: `count` of this connection's frames were handled.
    public func handled(_ count: Int) {
        let resume = state.withLockedValue { s in
            s.pending -= count
            guard s.paused, s.pending <= low else { return false }
            s.paused = false
            return true
        }
        if resume { channel.read() }
    }
}
