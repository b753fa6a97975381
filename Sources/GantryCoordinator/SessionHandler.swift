import GantryModel
import GantryNet
import GantryRuntime
import GantryWire
import Logging
import NIOCore

/// The end of a gantryd connection's pipeline, on its event loop: after the handshake
/// (`ServerConnectionHandler`) it decodes each frame and hands it on without a task of its
/// own. Heartbeats go to the `HeartbeatInbox`; everything else, with the session's opening
/// and closing, to the coordinator's `SessionInbox`, in order. Replies come back through
/// the session's `Outbox`, which writes on this event loop.
final class SessionHandler: ChannelDuplexHandler {
    typealias InboundIn = ServerInbound
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let inbox: SessionInbox
    private let heartbeats: HeartbeatInbox
    private let newSessionID: @Sendable () -> SessionID
    /// `limits.max_inflight_requests`, read for each request (a reload applies at once).
    private let maxInflightRequests: @Sendable () -> Int
    private let logger: Logger
    /// Once the handshake is done; `window` only for a control client's session.
    private var session: (id: SessionID, role: PeerRole, outbox: Outbox, gate: ReadGate, window: RequestWindow?)?

    init(
        inbox: SessionInbox, heartbeats: HeartbeatInbox, maxInflightRequests: @escaping @Sendable () -> Int, logger: Logger,
        newSessionID: @escaping @Sendable () -> SessionID
    ) {
        self.inbox = inbox
        self.heartbeats = heartbeats
        self.maxInflightRequests = maxInflightRequests
        self.logger = logger
        self.newSessionID = newSessionID
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .established(let peer):
            let id = newSessionID()
            let window = peer.role == .admin ? RequestWindow(limit: maxInflightRequests) : nil
            let outbox = Outbox(channel: context.channel, window: window)
            session = (id, peer.role, outbox, ReadGate(channel: context.channel), window)
            let address = context.remoteAddress.map(describeAddress) ?? "unknown"
            inbox.post(.opened(id, peer, address: address, outbox))
        case .frame(let frame):
            guard let session else { return }
            let envelope: WireEnvelope
            do throws(GantryError) {
                envelope = try WireEnvelope(frame: frame)
            } catch {
                // Bytes that are not an Envelope: the stream cannot be trusted. (An
                // Envelope this version cannot read decodes to `.unreadable` and is
                // refused on its own.)
                session.outbox.close(with: WireEnvelope(.error(error, fatal: true)))
                return
            }
            if session.role == .agent, case .agent(.heartbeat(let heartbeat)) = envelope.message {
                heartbeats.stage(heartbeat, session: session.id, now: WallClock.now())
                return
            }
            if let window = session.window, case .adminRequest = envelope.message, envelope.requestID != 0,
                let refusal = window.admit(envelope.requestID)
            {
                session.outbox.send(WireEnvelope(.error(refusal, fatal: false), requestID: envelope.requestID))
                return
            }
            session.gate.posted(bytes: frame.readableBytes)
            inbox.post(.frame(session.id, envelope, session.gate, bytes: frame.readableBytes))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let session {
            session.outbox.finish()
            inbox.post(.closed(session.id))
            self.session = nil
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The peer stopped sending: write what is queued for it, then close.
        if let e = event as? ChannelEvent, e == .inputClosed, let session {
            session.outbox.close(with: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { session?.outbox.writable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if session?.gate.mayRead() ?? true { context.read() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Nothing else to do: `ServerConnectionHandler` answered framing and handshake
        // errors and closes after its answer is written, and NIO closes a connection whose
        // socket failed (a reset).
        logger.debug("connection error", metadata: [
            "peer.address": "\(context.remoteAddress.map(describeAddress) ?? "unknown")",
            "session": "\(session.map { "\($0.id)" } ?? "-")", "error": "\(error)",
        ])
    }
}
