import GantryModel
import GantryNet
import GantryRuntime
import GantryWire
import NIOConcurrencyHelpers
import NIOCore

/// Takes an agent's heartbeats out of its connection on the event loop, into the
/// coordinator's `HeartbeatInbox`, so they never wake the connection's task: with 10,000
/// agents that is 10,000 thread wake-ups a second fewer. Every other frame, and any
/// heartbeat before the session is known, passes through unchanged.
///
/// A heartbeat is recognised by its first bytes before it is decoded: an Envelope whose
/// `request_id` is 0 (agents send heartbeats without one) starts with the tag of its
/// `heartbeat` field (22, length-delimited: 0xB2 0x01). Anything else takes the usual path.
final class HeartbeatTap: ChannelInboundHandler {
    typealias InboundIn = ServerInbound
    typealias InboundOut = ServerInbound

    /// The agent session this connection carries, once the coordinator opened it.
    let session: NIOLockedValueBox<SessionID?>
    let inbox: HeartbeatInbox

    init(session: NIOLockedValueBox<SessionID?>, inbox: HeartbeatInbox) {
        self.session = session
        self.inbox = inbox
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .frame(let frame) = unwrapInboundIn(data), frame.readableBytes > 2,
            frame.getInteger(at: frame.readerIndex, as: UInt8.self) == 0xB2,
            frame.getInteger(at: frame.readerIndex + 1, as: UInt8.self) == 0x01,
            let id = session.withLockedValue({ $0 }),
            let envelope = try? WireEnvelope(frame: frame), case .agent(.heartbeat(let heartbeat)) = envelope.message
        {
            inbox.stage(heartbeat, session: id, now: WallClock.now())
            return
        }
        context.fireChannelRead(data)
    }
}
