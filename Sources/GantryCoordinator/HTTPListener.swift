public import GantryNet
public import NIOCore
import GantryModel
public import Logging
public import NIOHTTP1
public import NIOPosix
public import ServiceLifecycle

/// The HTTP listener: `/healthz` (and `/metrics`).
public struct HTTPListener: Service {
    public typealias Route = @Sendable (_ method: HTTPMethod, _ path: String) async -> HTTPReply?

    let group: any EventLoopGroup
    let host: String
    let port: Int
    let inheritedDescriptor: CInt?
    let route: Route
    let logger: Logger
    public let address = OneShot<SocketAddress>()

    public init(host: String, port: Int, inheritedDescriptor: CInt? = nil, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger, route: @escaping Route) {
        self.host = host
        self.port = port
        self.inheritedDescriptor = inheritedDescriptor
        self.group = group
        self.logger = logger
        self.route = route
    }

    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    public func run() async throws {
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Connection> = { channel in
            channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                try Connection(wrappingChannelSynchronously: channel)
            }
        }
        let bootstrap = ServerBootstrap(group: group).serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        let server: NIOAsyncChannel<Connection, Never>
        do {
            if let fd = inheritedDescriptor {
                server = try await bootstrap.bind(fd, childChannelInitializer: initializer)
            } else {
                server = try await bootstrap.bind(host: host, port: port, childChannelInitializer: initializer)
            }
        } catch {
            let failure = ListenError(what: "HTTP listener", address: "\(host):\(port)", underlying: error)
            address.fail(failure)
            throw failure
        }
        if let bound = server.channel.localAddress { address.succeed(bound) }
        logger.info("HTTP listener ready", metadata: ["http": "\(server.channel.localAddress.map(describeAddress) ?? "?")"])
        let route = self.route
        await withDiscardingTaskGroup { group in
            do {
                try await server.executeThenClose { inbound in
                    for try await connection in inbound.cancelOnGracefulShutdown() {
                        group.addTask { await Self.serve(connection, route: route) }
                    }
                }
            } catch {
                logger.error("HTTP listener failed", metadata: ["error": "\(error)"])
            }
            // Keep-alive connections would hold shutdown open: end them.
            group.cancelAll()
        }
    }

    static func serve(_ connection: Connection, route: Route) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let h): head = h
                case .body: continue
                case .end:
                    guard let h = head else { continue }
                    let path = String(h.uri.split(separator: "?", maxSplits: 1).first ?? "")
                    let reply = await route(h.method, path) ?? HTTPReply(status: .notFound, contentType: "text/plain", body: "not found\n")
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: reply.contentType)
                    headers.add(name: "Content-Length", value: "\(reply.body.utf8.count)")
                    headers.add(name: "Connection", value: h.isKeepAlive ? "keep-alive" : "close")
                    try await outbound.write(.head(HTTPResponseHead(version: h.version, status: reply.status, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: h.method == .HEAD ? "" : reply.body))))
                    try await outbound.write(.end(nil))
                    if !h.isKeepAlive { return }
                    head = nil
                }
            }
        }
    }
}

public struct HTTPReply: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: String

    public init(status: HTTPResponseStatus = .ok, contentType: String, body: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}
