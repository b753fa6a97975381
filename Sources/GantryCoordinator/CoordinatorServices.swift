import GantryModel
public import Logging
public import NIOCore
import NIOHTTP1
public import GantryPersistence
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
        options: CoordinatorOptions, logger: Logger, store: (any CoordinatorStore)? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        protocolDescriptor: CInt? = nil, httpDescriptor: CInt? = nil,
        metricsText: (@Sendable () -> String)? = nil
    ) {
        let coordinator = Coordinator(options: options, logger: logger, store: store)
        _ = ProcessMetrics.startTime
        self.coordinator = coordinator
        self.protocolListener = ProtocolListener(coordinator: coordinator, group: group, inheritedDescriptor: protocolDescriptor)
        self.httpListener = HTTPListener(
            host: options.config.http.host, port: options.config.http.port, inheritedDescriptor: httpDescriptor, group: group, logger: logger,
            route: { method, path in await coordinator.http(method: method, path: path, metricsText: metricsText) })
        self.ticker = Ticker(coordinator: coordinator, retentionMs: options.config.retentionMs, logger: logger)
    }

    /// In start order; a service group stops them in reverse, so the store writer, first
    /// here, is the last to stop and flushes whatever the others handed it.
    public var all: [any Service] {
        [StoreWriterService(coordinator: coordinator), QueryService(coordinator: coordinator), protocolListener, httpListener, ticker]
    }
}

/// Runs the coordinator's group-commit writer until graceful shutdown, then flushes it.
struct StoreWriterService: Service {
    let coordinator: Coordinator

    func run() async throws {
        guard let writer = coordinator.writer else { return }
        let coordinator = self.coordinator
        // Stopped last (see `all`): everything the others handed it is written first.
        await withGracefulShutdownHandler {
            await writer.run(
                committed: { await coordinator.committed(through: $0) },
                failed: { await coordinator.storeFailed($0) })
        } onGracefulShutdown: {
            writer.finish()
        }
    }
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
