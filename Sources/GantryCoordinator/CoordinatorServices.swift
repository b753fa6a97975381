import GantryModel
public import Logging
public import NIOCore
public import GantryPersistence
public import NIOPosix
public import ServiceLifecycle
public import Hummingbird

/// The coordinator's long-running parts, wired together: the protocol listener, the HTTP
/// listener (/healthz, /metrics), the API listener (the OpenAI-compatible API), the store's
/// writer and readers, and the ticker, all sharing one `Coordinator`.
public struct CoordinatorServices: Sendable {
    public let coordinator: Coordinator
    public let protocolListener: ProtocolListener
    public let httpListener: HTTPServer
    public let apiListener: HTTPServer
    public let ticker: Ticker

    /// Inherited sockets (systemd socket activation), by `FileDescriptorName=`.
    public struct Descriptors: Sendable {
        public var protocolListener: CInt?
        public var http: CInt?
        public var api: CInt?

        public init(protocolListener: CInt? = nil, http: CInt? = nil, api: CInt? = nil) {
            self.protocolListener = protocolListener
            self.http = http
            self.api = api
        }
    }

    public init(
        options: CoordinatorOptions, logger: Logger, store: (any CoordinatorStore)? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, inherited: Descriptors = Descriptors(),
        metricsText: (@Sendable () -> String)? = nil,
        moreRoutes: (@Sendable (Router<APIRequestContext>, Coordinator) -> Void)? = nil
    ) {
        let coordinator = Coordinator(options: options, logger: logger, store: store)
        _ = ProcessMetrics.startTime
        self.coordinator = coordinator
        self.protocolListener = ProtocolListener(coordinator: coordinator, group: group, inheritedDescriptor: inherited.protocolListener)
        let config = options.config
        self.httpListener = HTTPServer(
            "HTTP listener", at: inherited.http.map { .descriptor($0) } ?? .address(host: config.http.host, port: config.http.port),
            responder: HTTPRoutes(coordinator: coordinator, metricsText: metricsText).router(more: moreRoutes).buildResponder(),
            tls: config.tlsHTTP ? options.httpTLS : nil, group: group, logger: logger)
        self.apiListener = HTTPServer(
            "API listener", at: inherited.api.map { .descriptor($0) } ?? .address(host: config.apiListen.host, port: config.apiListen.port),
            responder: APIRoutes(coordinator: coordinator, maxBodyBytes: config.apiMaxBodyBytes, maxQueueWaitMs: config.apiMaxQueueWaitMs)
                .router().buildResponder(),
            tls: config.tlsAPI ? options.httpTLS : nil, group: group, logger: logger)
        self.ticker = Ticker(
            coordinator: coordinator, retentionMs: config.retentionMs, historyRetentionMs: config.historyRetentionMs, logger: logger)
    }

    /// In start order; a service group stops them in reverse, so the store writer, first
    /// here, is the last to stop and flushes whatever the others handed it.
    public var all: [any Service] {
        [
            StoreWriterService(coordinator: coordinator), QueryService(coordinator: coordinator), HeartbeatService(coordinator: coordinator),
            SessionService(coordinator: coordinator),
            protocolListener, httpListener, apiListener, ticker,
        ]
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
