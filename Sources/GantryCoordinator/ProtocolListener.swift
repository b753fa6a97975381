public import GantryNet
public import NIOCore
import GantryModel
import GantryWire
import GantryRuntime
import NIOSSL
import Logging
import NIOConcurrencyHelpers
public import NIOPosix
public import ServiceLifecycle

/// The one TCP listener for agents and control clients; the role comes from Hello.
///
/// One connection is one `NIOAsyncChannel` in `executeThenClose`, inside a discarding
/// task group; the per-connection function does not throw, so one bad peer never takes
/// the listener down (swift-nio's NIOTCPEchoServer shape).
public struct ProtocolListener: Service {
    let coordinator: Coordinator
    let group: any EventLoopGroup
    /// Where the listener bound (port 0 picks a free port).
    public let address = OneShot<SocketAddress>()
    /// An already-bound listening socket from systemd, if any.
    let inheritedDescriptor: CInt?

    public init(coordinator: Coordinator, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, inheritedDescriptor: CInt? = nil) {
        self.coordinator = coordinator
        self.group = group
        self.inheritedDescriptor = inheritedDescriptor
    }

    public func run() async throws {
        let options = coordinator.options
        let logger = coordinator.logger
        let coordinator = self.coordinator
        let configuration = ServerConnectionHandler.Configuration(
            credentials: { coordinator.credentials },
            serverID: options.serverID,
            handshakeTimeout: .milliseconds(options.config.handshakeTimeoutMs),
            admission: coordinator.admission,
            bindNodeIDToCertificate: options.mutualTLS,
            onHandshakeFailure: { peer, error in
                logger.warning("handshake failed", metadata: ["peer.address": "\(peer)", "error.code": "\(error.code.name)", "error": "\(error.message)"])
                CoordinatorMetrics.handshakeFailed(code: error.code)
            })
        let maxFrameBytes = options.config.maxFrameBytes
        let idleTimeout = TimeAmount.milliseconds(options.config.idleTimeoutMs)
        let tls = options.tls
        let inbox = coordinator.heartbeats
        let initializer: @Sendable (any Channel) -> EventLoopFuture<(NIOAsyncChannel<ServerInbound, ByteBuffer>, NIOLockedValueBox<SessionID?>)> = { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                try channel.pipeline.syncOperations.addGantryFraming(maxFrameBytes: maxFrameBytes)
                try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                try channel.pipeline.syncOperations.addHandler(ServerConnectionHandler(configuration: configuration))
                let session = NIOLockedValueBox<SessionID?>(nil)
                try channel.pipeline.syncOperations.addHandler(HeartbeatTap(session: session, inbox: inbox))
                return (try NIOAsyncChannel(wrappingChannelSynchronously: channel), session)
            }
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // A peer that half-closes mid-frame still gets the error frame (bad_frame) before we close.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        let server: NIOAsyncChannel<(NIOAsyncChannel<ServerInbound, ByteBuffer>, NIOLockedValueBox<SessionID?>), Never>
        do {
            if let fd = inheritedDescriptor {
                server = try await bootstrap.bind(fd, childChannelInitializer: initializer)
            } else {
                server = try await bootstrap.bind(host: options.config.listen.host, port: options.config.listen.port, childChannelInitializer: initializer)
            }
        } catch {
            let failure = ListenError(what: "protocol listener", address: "\(options.config.listen)", underlying: error)
            address.fail(failure)
            throw failure
        }
        if let bound = server.channel.localAddress { address.succeed(bound) }
        logger.info("protocol listener ready", metadata: ["listen": "\(server.channel.localAddress.map(describeAddress) ?? "?")"])

        await withDiscardingTaskGroup { group in
            do {
                try await server.executeThenClose { inbound in
                    for try await (connection, tapped) in inbound.cancelOnGracefulShutdown() {
                        group.addTask { await Self.serve(connection, tapped: tapped, coordinator: coordinator, logger: logger) }
                    }
                }
            } catch {
                logger.error("protocol listener failed", metadata: ["error": "\(error)"])
            }
            // Stop accepting; tell connected peers we are going away.
            await coordinator.shutdownSessions(reason: "gantryd is shutting down")
        }
    }

    /// Serves one connection until either side closes it. Never throws.
    /// `tapped` is set to an agent's session once its Register was handled: later heartbeats
    /// are taken on the event loop (`HeartbeatTap`); the few read before that come through
    /// here and go to the same inbox.
    static func serve(
        _ connection: NIOAsyncChannel<ServerInbound, ByteBuffer>, tapped: NIOLockedValueBox<SessionID?>, coordinator: Coordinator, logger: Logger
    ) async {
        let channel = connection.channel
        let peerAddress = channel.remoteAddress.map(describeAddress) ?? "unknown"
        let admission = coordinator.admission
        let window = RequestWindow(limit: { admission.limits.maxInflightRequests })
        let outbox = Outbox(window: window)
        var session: SessionID?
        var role: PeerRole?
        do {
            try await connection.executeThenClose { inbound, outbound in
                await withDiscardingTaskGroup { group in
                    group.addTask { await writeLoop(outbox: outbox, outbound: outbound, channel: channel) }
                    do {
                        for try await item in inbound {
                            switch item {
                            case .established(let peer):
                                session = await coordinator.open(peer: peer, address: peerAddress, outbox: outbox)
                                role = peer.role
                            case .frame(let frame):
                                guard let id = session else { continue }
                                let envelope: WireEnvelope
                                do throws(GantryError) {
                                    envelope = try WireEnvelope(frame: frame)
                                } catch {
                                    // Bytes that are not an Envelope: the stream cannot be
                                    // trusted. (An Envelope this version cannot read decodes
                                    // to `.unreadable` and is refused on its own.)
                                    outbox.close(with: WireEnvelope(.error(error, fatal: true)))
                                    continue
                                }
                                if role == .agent, case .agent(.heartbeat(let heartbeat)) = envelope.message {
                                    coordinator.heartbeats.stage(heartbeat, session: id, now: WallClock.now())
                                    continue
                                }
                                if role == .admin, case .adminRequest = envelope.message, envelope.requestID != 0,
                                    let refusal = window.admit(envelope.requestID)
                                {
                                    outbox.send(WireEnvelope(.error(refusal, fatal: false), requestID: envelope.requestID))
                                    continue
                                }
                                await coordinator.received(envelope, from: id)
                                // Registered: from now on its heartbeats are taken on the event loop.
                                if role == .agent, case .agent(.register) = envelope.message { tapped.withLockedValue { $0 = id } }
                            }
                        }
                    } catch {
                        logger.debug("connection ended with an error", metadata: ["peer.address": "\(peerAddress)", "error": "\(error)"])
                    }
                    outbox.finish()
                }
            }
        } catch {
            logger.debug("connection closed with an error", metadata: ["peer.address": "\(peerAddress)", "error": "\(error)"])
        }
        outbox.finish()
        if let id = session { await coordinator.closed(id) }
    }
}

public struct ListenError: Error, CustomStringConvertible {
    public var what: String
    public var address: String
    public var underlying: any Error
    public var description: String { "cannot start the \(what) on \(address): \(underlying)" }
}
