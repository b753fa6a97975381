import ArgumentParser
import GantryCLI
import GantryConfig
import GantryCoordinator
import GantryDashboard
import GantryLogging
import GantryModel
import GantryRuntime
import GantrySystemd
import GantryStore
import GantryPostgres
import GantryPersistence
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

@main
struct GantryD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gantryd",
        abstract: "The Gantry coordinator: membership, queue, placement, state and accounting.",
        discussion: "`gantryd [serve] [options]` runs the coordinator; `gantryd migrate` copies a stopped coordinator's state to PostgreSQL.",
        version: GantryVersion.current,
        subcommands: [Serve.self, Migrate.self],
        defaultSubcommand: Serve.self)

    static func main() async {
        await CommandLineMain.run(Self.self, program: "gantryd", usageErrors: [ConfigError.self])
    }

    static var software: String { "gantryd/\(GantryVersion.current)" }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the coordinator (the default).",
        discussion: "Reads \(CoordinatorConfig.defaultPath) unless --config names another file; flags override the file.")

    @Option(help: "Config file (default \(CoordinatorConfig.defaultPath); built-in defaults if that is missing).")
    var config: String?

    @Option(help: "Protocol listener for agents and gantryctl, HOST:PORT.")
    var listen: String?

    @Option(help: "HTTP listener for /healthz and /metrics, HOST:PORT.")
    var http: String?

    @Option(help: "The OpenAI-compatible API listener, HOST:PORT.")
    var api: String?

    @Option(name: .customLong("state-dir"), help: "Directory for durable state.")
    var stateDir: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text, json or journal.")
    var logFormat: String?

    @Flag(name: .customLong("check-state"), help: "Verify the store in the state directory, print what it holds, and exit (1 if it is damaged).")
    var checkState = false

    /// The configuration file with the flags applied over it.
    func loadConfig() throws -> (CoordinatorConfig, Logger.Level) {
        let path = config ?? CoordinatorConfig.defaultPath
        var settings = CoordinatorConfig()
        if let text = try ConfigFile.read(path, isDefault: config == nil) {
            settings = try CoordinatorConfig(toml: text, file: path)
        }
        if let listen { settings.listen = try flagAddress(listen, "--listen") }
        if let http { settings.http = try flagAddress(http, "--http") }
        if let api { settings.apiListen = try flagAddress(api, "--api") }
        if let stateDir { settings.stateDir = stateDir }
        if let logLevel { settings.logLevel = logLevel }
        guard let level = Logger.Level(name: settings.logLevel) else {
            throw UsageError("--log-level '\(settings.logLevel)' is not one of \(LogLevelName.valid.joined(separator: ", "))")
        }
        return (settings, level)
    }

    func run() async throws {
        let (settings, level) = try loadConfig()
        let format = try LogFormatChoice(flag: logFormat)

        if checkState {
            guard settings.storeKind == .sqlite else {
                throw UsageError("--check-state reads a SQLite store; this config uses PostgreSQL (check it with psql, or `gantryctl status`)")
            }
            let store: Store
            do {
                store = try Store.open(stateDir: settings.stateDir, readOnly: true)
            } catch {
                throw CommandFailure(error.message)
            }
            let report = try store.check()
            print(report)
            guard report.ok else { throw CommandFailure("the store \(store.path) is damaged or from another version") }
            return
        }

        // Before the store is opened: listeners that would clash are a config mistake.
        do {
            try settings.checkListeners(inherited: Set(SocketActivation.listeners().keys))
        } catch {
            throw CommandFailure(error.message)
        }

        let levelControl = LogLevelControl(level)
        format.bootstrap(identifier: "gantryd", level: levelControl)
        let logger = Logger(label: "gantryd")

        var options = try CoordinatorOptions(config: settings, software: GantryD.software)
        options.onStoreFailure = { error in
            if let fenced = error as? FencedError {
                logger.critical("lost the leadership: \(fenced)")
                writeStderr("gantryd: error: \(fenced)\n")
                Glibc.exit(75)
            }
            writeStderr("gantryd: error: cannot write to the store: \(error); exiting\n")
            Glibc.exit(1)
        }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(1), .microseconds(2), .microseconds(5), .microseconds(10), .microseconds(20), .microseconds(50),
            .microseconds(100), .microseconds(200), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25),
        ]
        MetricsSystem.bootstrap(factory)
        let context = Serving(command: self, settings: settings, options: options, logger: logger, levelControl: levelControl, metricsText: { registry.emitToString() })
        switch settings.storeKind {
        case .sqlite:
            let store: Store
            do {
                store = try Store.open(stateDir: settings.stateDir, minFreeBytes: settings.minFreeBytes)
            } catch {
                throw CommandFailure(error.message)
            }
            try await context.serve(store: store)
        case .postgres:
            try await HighAvailability(context: context).run()
        }
    }
}

/// What serving needs, once the config is read and logging and metrics are up.
struct Serving: Sendable {
    let command: Serve
    let settings: CoordinatorConfig
    let options: CoordinatorOptions
    let logger: Logger
    let levelControl: LogLevelControl
    let metricsText: @Sendable () -> String

    /// Runs the coordinator on `store` until SIGTERM: its listeners, writer, ticker and
    /// systemd notifications, plus `first` (started first, stopped last).
    func serve(store: any CoordinatorStore, first: [any Service] = [], started: @Sendable (Coordinator) async -> Void = { _ in }) async throws {
        let logger = self.logger
        let settings = self.settings
        // Socket activation: systemd may hand us the listening sockets, by name.
        let inherited = SocketActivation.listeners()
        if !inherited.isEmpty {
            logger.info("socket-activated", metadata: ["sockets": "\(inherited.keys.sorted().joined(separator: ","))"])
        }
        let sessions = DashboardSessions(
            admin: options.credentials.admin, readOnly: options.credentials.readOnly, ttlMs: settings.sessionTtlMs)
        let services = CoordinatorServices(
            options: options, logger: logger, store: store,
            inherited: .init(protocolListener: inherited["gantry"], http: inherited["http"], api: inherited["api"]),
            metricsText: metricsText,
            moreRoutes: { router, coordinator in DashboardRoutes(coordinator: coordinator, sessions: sessions, logger: logger, secure: settings.tlsHTTP).add(to: router) })
        let command = self.command
        let levelControl = self.levelControl
        let coordinator = services.coordinator
        let supervisor = SupervisorService(
            supervisor: Notifier(), logger: logger,
            ready: {
                let protocolAddress = try await services.protocolListener.address.value
                let httpAddress = try await services.httpListener.address.value
                let apiAddress = try await services.apiListener.address.value
                return "listening on \(protocolAddress), \(httpAddress) (HTTP) and \(apiAddress) (API)"
            },
            status: { await coordinator.statusLine() },
            reload: {
                let (config, level) = try command.loadConfig()
                let fresh = try CoordinatorOptions(config: config, software: GantryD.software)
                await coordinator.reload(fresh)
                sessions.update(admin: fresh.credentials.admin, readOnly: fresh.credentials.readOnly)
                levelControl.level = level
                return "tokens, settings, cost overrides, scorer weights, limits and log level (\(level)) from \(command.config ?? CoordinatorConfig.defaultPath)"
            })
        do {
            try await coordinator.start()
        } catch {
            throw CommandFailure("cannot load state from \(store.location): \(error)")
        }
        await started(coordinator)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: (first + services.all + [supervisor]).map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        logger.notice("gantryd starting", metadata: [
            "version": "\(GantryVersion.current)", "listen": "\(settings.listen)", "http": "\(settings.http)", "api": "\(settings.apiListen)",
        ])
        do {
            try await group.run()
        } catch {
            throw CommandFailure("\(error)")
        }
        logger.notice("gantryd stopped")
    }
}

func flagAddress(_ text: String, _ flag: String) throws -> HostPort {
    do {
        return try HostPort(parsing: text)
    } catch {
        throw UsageError("\(flag): \(error.message)")
    }
}
