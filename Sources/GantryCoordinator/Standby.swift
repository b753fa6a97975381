public import GantryConfig
import GantryModel
import GantryNet
import GantryWire
import Hummingbird
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix
public import ServiceLifecycle
public import NIOSSL

/// What a standby gantryd knows of the leader (from the lease row), shared by its
/// listeners and refreshed by its election loop.
public final class StandbyView: Sendable {
    private let box = NIOLockedValueBox<(address: String, epoch: Int64)>(("", 0))

    public init() {}

    public var leader: (address: String, epoch: Int64) {
        get { box.withLockedValue { $0 } }
        set { box.withLockedValue { $0 = newValue } }
    }

    var notLeader: NotLeaderError {
        let l = leader
        return NotLeaderError(
            leaderAddress: l.address, epoch: UInt64(max(0, l.epoch)),
            message: l.address.isEmpty ? "this gantryd is a standby; no gantryd leads yet" : "this gantryd is a standby; the leader is \(l.address)")
    }
}

/// A standby's listeners, on the addresses the leader's would use: the protocol listener
/// answers every Hello with NotLeader (the client goes to the leader), `/healthz` says
/// "standby" (200), `/readyz` 503, `/metrics` `gantry_leader 0`, and the API 503 naming
/// the leader. They stop when this gantryd takes the lease.
public struct StandbyServices: Sendable {
    public let protocolListener: StandbyProtocolListener
    public let httpListener: HTTPServer
    public let apiListener: HTTPServer

    public init(
        config: CoordinatorConfig, view: StandbyView, instance: String, logger: Logger, metricsText: (@Sendable () -> String)?,
        httpTLS: NIOSSLContext? = nil, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        protocolListener = StandbyProtocolListener(config: config, view: view, group: group, logger: logger)
        let http = Router(context: BasicRequestContext.self)
        http.get("/healthz") { _, _ in
            let l = view.leader
            let body = "{\"status\":\"standby\",\"leader\":\"\(l.address)\",\"epoch\":\(l.epoch)}\n"
            return HTTPRoutes.text(body, type: "application/json")
        }
        http.get("/readyz") { _, _ in
            Response(status: .serviceUnavailable, headers: [.contentType: "text/plain"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "standby; the leader is \(view.leader.address.isEmpty ? "not known yet" : view.leader.address)\n")))
        }
        if let metricsText {
            http.get("/metrics") { _, _ in
                LeadershipMetrics.leadership(instance: instance, leader: false)
                ProcessMetrics.refresh()
                return HTTPRoutes.text(metricsText(), type: "text/plain; version=0.0.4; charset=utf-8")
            }
        }
        httpListener = HTTPServer(
            "HTTP listener", at: .address(host: config.http.host, port: config.http.port), responder: http.buildResponder(),
            tls: config.tlsHTTP ? httpTLS : nil, group: group, logger: logger)
        let api = Router(context: BasicRequestContext.self)
        let refuse: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            let l = view.leader
            let message = l.address.isEmpty
                ? "this gantryd is a standby and no gantryd leads yet; retry shortly"
                : "this gantryd is a standby; send API requests to the leader, \(l.address) (its API listener)"
            let body = #"{"error":{"message":"\#(message)","type":"unavailable","code":"not_leader"}}"#
            return Response(
                status: .serviceUnavailable, headers: [.contentType: "application/json", .retryAfter: "1"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        for path in ["/v1/completions", "/v1/chat/completions"] { api.post(RouterPath(path), use: refuse) }
        api.get("/v1/models", use: refuse)
        apiListener = HTTPServer(
            "API listener", at: .address(host: config.apiListen.host, port: config.apiListen.port), responder: api.buildResponder(),
            tls: config.tlsAPI ? httpTLS : nil, group: group, logger: logger)
    }

    public var all: [any Service] { [protocolListener, httpListener, apiListener] }
}

/// Answers every connection's first frame (a Hello) with NotLeader, then closes it.
public struct StandbyProtocolListener: Service {
    let config: CoordinatorConfig
    let view: StandbyView
    let group: any EventLoopGroup
    let logger: Logger

    public func run() async throws {
        let view = self.view
        let maxFrameBytes = config.maxFrameBytes
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addGantryFraming(maxFrameBytes: maxFrameBytes)
                    try channel.pipeline.syncOperations.addHandler(Redirect(view: view))
                }
            }
            .bind(host: config.listen.host, port: config.listen.port).get()
        logger.info("standby protocol listener ready", metadata: ["listen": "\(config.listen)"])
        let channel: any Channel = server
        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: Optional<EventLoopPromise<Void>>.none)
        }
    }

    final class Redirect: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let view: StandbyView

        init(view: StandbyView) { self.view = view }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let n = view.notLeader
            let frame = WireEnvelope(.notLeader(address: n.leaderAddress, epoch: n.epoch, message: n.message)).encode(allocator: context.channel.allocator)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in bound.value.close(promise: nil) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
