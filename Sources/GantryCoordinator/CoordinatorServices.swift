import GantryModel
public import Logging
public import NIOCore
import NIOHTTP1
public import GantryStore
public import NIOPosix
public import ServiceLifecycle

/// The coordinator's long-running parts, wired together: the protocol listener, the
/// HTTP listener and the ticker, all sharing one `Coordinator`.
public struct CoordinatorServices: Sendable {
    public let coordinator: Coordinator
    public let protocolListener: ProtocolListener
    public let httpListener: HTTPListener
    public let ticker: Ticker

    public init(
        options: CoordinatorOptions, logger: Logger, store: Store? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        protocolDescriptor: CInt? = nil, httpDescriptor: CInt? = nil,
        metricsText: (@Sendable () -> String)? = nil
    ) {
        let coordinator = Coordinator(options: options, logger: logger, store: store)
        _ = ProcessMetrics.startTime
        self.coordinator = coordinator
        self.protocolListener = ProtocolListener(coordinator: coordinator, group: group, inheritedDescriptor: protocolDescriptor)
        self.httpListener = HTTPListener(
            host: options.http.host, port: options.http.port, inheritedDescriptor: httpDescriptor, group: group, logger: logger,
            route: { method, path in await coordinator.http(method: method, path: path, metricsText: metricsText) })
        self.ticker = Ticker(
            coordinator: coordinator, intervalMs: min(250, options.settings.heartbeatIntervalMs / 4),
            retentionMs: options.retentionMs, logger: logger)
    }

    public var all: [any Service] { [protocolListener, httpListener, ticker] }
}

extension Coordinator {
    func http(method: HTTPMethod, path: String, metricsText: (@Sendable () -> String)?) async -> HTTPReply? {
        switch path {
        case "/metrics":
            guard let metricsText else { return nil }
            refreshMetrics()
            ProcessMetrics.refresh()
            return HTTPReply(contentType: "text/plain; version=0.0.4; charset=utf-8", body: metricsText())
        case "/healthz":
            let s = status()
            let ready = s.nodes[.ready] ?? 0
            let body = "{\"status\":\"ok\",\"nodes_ready\":\(ready),\"queue_depth\":\(s.queueDepth),\"sessions\":\(sessionCount)}\n"
            return HTTPReply(contentType: "application/json", body: body)
        default:
            return nil
        }
    }
}
