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
/// A connection has no task of its own: its pipeline (TLS, framing, idle timeout, the
/// handshake, `SessionHandler`) runs on its event loop and hands decoded frames to the
/// coordinator's `SessionInbox`, and its `Outbox` writes on the same event loop. So a
/// connection costs its channel, its handlers and buffers, and its session, not two tasks
/// with their stacks; and a frame reaches the coordinator in one hop.
public struct ProtocolListener: Service {
    let coordinator: Coordinator
    let group: any EventLoopGroup
    /// Where the listener bound (port 0 picks a free port).
    public let address = OneShot<SocketAddress>()
    /// An already-bound listening socket from systemd, if any.
    let inheritedDescriptor: CInt?
    /// How long a graceful shutdown waits for peers to take their Goodbye and go.
    var drainTimeout: TimeAmount = .seconds(5)

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
        let admission = coordinator.admission
        let connections = Connections()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // A peer that half-closes mid-frame still gets the error frame (bad_frame) before we close.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            // Most frames are small: start receive buffers small, let them grow for big ones.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
                    try sync.addGantryFraming(maxFrameBytes: maxFrameBytes)
                    try sync.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try sync.addHandler(ServerConnectionHandler(configuration: configuration))
                    try sync.addHandler(SessionHandler(
                        inbox: coordinator.sessionInbox, heartbeats: coordinator.heartbeats,
                        maxInflightRequests: { admission.limits.maxInflightRequests }, logger: logger,
                        newSessionID: { coordinator.newSessionID() }))
                    connections.add(channel)
                }
            }
        let server: any Channel
        do {
            if let fd = inheritedDescriptor {
                server = try await bootstrap.withBoundSocket(fd).get()
            } else {
                server = try await bootstrap.bind(host: options.config.listen.host, port: options.config.listen.port).get()
            }
        } catch {
            let failure = ListenError(what: "protocol listener", address: "\(options.config.listen)", underlying: error)
            address.fail(failure)
            throw failure
        }
        if let bound = server.localAddress { address.succeed(bound) }
        logger.info("protocol listener ready", metadata: ["listen": "\(server.localAddress.map(describeAddress) ?? "?")"])

        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await server.closeFuture.get()
            } onGracefulShutdown: {
                server.close(promise: nil)
            }
        } onCancel: {
            server.close(promise: nil)
        }
        // Stop accepting (done); tell connected peers we are going away, and give them a
        // moment to take it.
        await coordinator.shutdownSessions(reason: "gantryd is shutting down")
        await connections.drain(timeout: drainTimeout, group: group)
    }
}

/// The listener's open connections, so a shutdown can wait for them to go.
final class Connections: Sendable {
    private let open = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    /// On the connection's event loop, as it starts.
    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        open.withLockedValue { $0[key] = channel }
        channel.closeFuture.whenComplete { [open] _ in _ = open.withLockedValue { $0.removeValue(forKey: key) } }
    }

    /// Waits until every connection closed; those still open after `timeout` are closed.
    func drain(timeout: TimeAmount, group: any EventLoopGroup) async {
        let channels = open.withLockedValue { Array($0.values) }
        guard !channels.isEmpty else { return }
        let loop = group.next()
        let deadline = loop.scheduleTask(in: timeout) { [open] in
            for channel in open.withLockedValue({ Array($0.values) }) { channel.close(promise: nil) }
        }
        try? await EventLoopFuture.andAllComplete(channels.map(\.closeFuture), on: loop).get()
        deadline.cancel()
    }
}

public struct ListenError: Error, CustomStringConvertible {
    public var what: String
    public var address: String
    public var underlying: any Error
    public var description: String { "cannot start the \(what) on \(address): \(underlying)" }
}
