public import Hummingbird
import HummingbirdCore
public import Logging
public import NIOCore
import NIOExtras
import NIOHTTP1
public import NIOPosix
public import ServiceLifecycle
public import NIOSSL
public import GantryNet

/// One of gantryd's HTTP listeners: a Hummingbird router served on an address, or on a
/// listening socket systemd handed over (socket activation). Hummingbird's `Application`
/// only binds addresses itself, so this serves its `HTTP1Channel` from our own NIO
/// `ServerBootstrap`, which takes either: the same code path for both.
///
/// Every accepted connection has TCP_NODELAY (a streamed token is not held back waiting for
/// the client's delayed ACK). On graceful shutdown the listener closes, idle connections
/// close, and responses in flight finish (streams end on their own; see `APIRoutes`).
public struct HTTPServer: Service {
    public enum Where: Sendable {
        case address(host: String, port: Int)
        case descriptor(CInt)
    }

    let what: String
    let location: Where
    let http1: HTTP1Channel
    let group: any EventLoopGroup
    let logger: Logger
    /// HTTPS: TLS in front of HTTP/1.1.
    let tls: NIOSSLContext?
    /// Where the listener bound (port 0 picks a free port).
    public let address = OneShot<SocketAddress>()

    public init<R: HTTPResponder>(
        _ what: String, at location: Where, responder: R, idleTimeout: TimeAmount = .seconds(75), tls: NIOSSLContext? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) where R.Context: InitializableFromSource<ApplicationRequestContextSource> {
        self.tls = tls
        self.what = what
        self.location = location
        self.http1 = HTTP1Channel(responder: Self.channelResponder(responder, logger: logger), configuration: .init(idleTimeout: idleTimeout))
        self.group = group
        self.logger = logger
    }

    /// A router as the low-level responder `HTTP1Channel` takes (what Hummingbird's
    /// `Application` does inside).
    static func channelResponder<R: HTTPResponder>(_ responder: R, logger: Logger) -> HTTPChannelHandler.Responder
    where R.Context: InitializableFromSource<ApplicationRequestContextSource> {
        { (request: Request, writer: consuming ResponseWriter, channel: any Channel) in
            let context = R.Context(source: .init(channel: channel, logger: logger))
            let response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch let error as HTTPParserError {
                throw error  // HTTP1Channel answers 400 and closes
            } catch {
                logger.error("HTTP handler failed", metadata: ["error": "\(error)"])
                response = Response(status: .internalServerError)
            }
            try await writer.write(response: response.head, body: response.body)
        }
    }

    public func run() async throws {
        let quiesce = ServerQuiescingHelper(group: group)
        let (http1, logger) = (self.http1, self.logger)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // No half-closed connections: a client that goes away closes its channel at once, so a
            // request in progress notices (and its job is cancelled).
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
        let tls = self.tls
        let setup: @Sendable (any Channel) -> EventLoopFuture<HTTP1Channel.Value> = { channel in
            guard let tls else { return http1.setup(channel: channel, logger: logger) }
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
            }.flatMap { http1.setup(channel: channel, logger: logger) }
        }
        let server: NIOAsyncChannel<HTTP1Channel.Value, Never>
        do {
            switch location {
            case .address(let host, let port):
                server = try await bootstrap.bind(host: host, port: port) { setup($0) }
            case .descriptor(let fd):
                server = try await bootstrap.bind(fd) { setup($0) }
            }
        } catch {
            let failure = ListenError(what: what, address: "\(location)", underlying: error)
            address.fail(failure)
            throw failure
        }
        if let bound = server.channel.localAddress { address.succeed(bound) }
        logger.info("\(what) ready", metadata: [what == "API listener" ? "api" : "http": "\(server.channel.localAddress.map(describeAddress) ?? "?")"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { await http1.handle(value: connection, logger: logger) }
                        }
                    }
                } catch {
                    logger.error("\(what) failed", metadata: ["error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            quiesce.initiateShutdown(promise: nil)
        }
    }
}

extension HTTPServer.Where: CustomStringConvertible {
    public var description: String {
        switch self {
        case .address(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .descriptor(let fd): "inherited socket \(fd)"
        }
    }
}
