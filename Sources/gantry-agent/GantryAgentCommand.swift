import ArgumentParser
import GantryAgent
import GantryCLI
import GantryConfig
import GantryHost
import GantryLogging
import GantryModel
import GantryNet
import GantryRuntime
import GantrySystemd
import GantryWire
import Logging
import ServiceLifecycle

@main
struct GantryAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gantry-agent",
        abstract: "The Gantry host agent: discovers the host, runs jobs on its engines, reports usage.",
        discussion: "Reads \(AgentConfig.defaultPath) unless --config names another file; flags override the file.",
        version: GantryVersion.current)

    @Option(help: "Config file (default \(AgentConfig.defaultPath); built-in defaults if that is missing).")
    var config: String?

    @Option(help: "The coordinator's protocol address, HOST:PORT, or a comma-separated list (a leader and its standbys).")
    var coordinator: String?

    @Option(name: .customLong("node-id"), help: "This node's id (default: the host name).")
    var nodeID: String?

    @Option(name: .customLong("state-dir"), help: "Directory for the result spool.")
    var stateDir: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text, json or journal.")
    var logFormat: String?

    static func main() async {
        await CommandLineMain.run(Self.self, program: "gantry-agent", usageErrors: [ConfigError.self])
    }

    func run() async throws {
        let path = config ?? AgentConfig.defaultPath
        let config = self.config
        let logLevel = self.logLevel
        var settings = AgentConfig()
        if let text = try ConfigFile.read(path, isDefault: config == nil) {
            settings = try AgentConfig(toml: text, file: path)
        }
        if let coordinator {
            do {
                settings.coordinators = try HostPort.list(parsing: coordinator)
            } catch {
                throw UsageError("--coordinator: \(error.message)")
            }
        }
        if let nodeID { settings.nodeID = nodeID }
        if let stateDir { settings.stateDir = stateDir }
        if let logLevel { settings.logLevel = logLevel }
        guard let level = Logger.Level(name: settings.logLevel) else {
            throw UsageError("--log-level '\(settings.logLevel)' is not one of \(LogLevelName.valid.joined(separator: ", "))")
        }
        let format = try LogFormatChoice(flag: logFormat)

        let host = HostProbe()
        let inventory = await host.inventory()
        let idText = settings.nodeID ?? inventory.hostname
        guard let id = NodeID(idText) else {
            throw UsageError("node id '\(idText)' is not valid (1-63 characters of A-Z a-z 0-9 . _ -); set node_id or --node-id")
        }
        let tokenText = try ConfigFile.readToken(settings.joinTokenFile, purpose: "join token")
        guard let token = Secret(tokenText) else { throw UsageError("join token file \(settings.joinTokenFile) is empty") }
        if settings.engines.isEmpty {
            throw UsageError("no [[engine]] is configured in \(config ?? path); the node would have nothing to run")
        }

        let levelControl = LogLevelControl(level)
        format.bootstrap(identifier: "gantry-agent", level: levelControl)
        let logger = Logger(label: "gantry-agent")
        var options = AgentOptions(
            coordinators: settings.coordinators, nodeID: id, token: token, labels: settings.labels, cost: settings.cost,
            engines: settings.engines, stateDir: settings.stateDir, maxFrameBytes: settings.maxFrameBytes,
            software: "gantry-agent/\(GantryVersion.current)")
        options.shutdownTimeoutMs = settings.shutdownTimeoutMs
        options.probeIntervalMs = settings.healthIntervalMs
        if settings.tlsEnabled {
            do {
                let context = try GantryTLS.clientContext(caFile: settings.tlsCAFile, certFile: settings.tlsCertFile, keyFile: settings.tlsKeyFile)
                options.tls = GantryClient.TLS(context: context, serverName: settings.tlsServerName)
            } catch {
                throw UsageError(error.description)
            }
        }
        let engines = try makeEngines(settings.engines)
        let spool: FileSpool
        let agent: Agent
        do {
            spool = try FileSpool(stateDir: settings.stateDir)
            agent = try Agent(options: options, inventory: inventory, engines: engines, host: host, spool: spool, logger: logger)
        } catch let error as SpoolError {
            throw CommandFailure("\(error)")
        }
        for damage in spool.damaged {
            logger.warning("a spool segment is damaged; results after the damage are not sent again (gantryd retries those jobs)", metadata: [
                "spool.segment": "\(damage.file)", "error": "\(damage.problem)",
            ])
        }
        let spooled = await agent.spooledCount
        if spooled > 0 {
            logger.notice("results in the spool will be re-sent until acknowledged", metadata: ["spool": "\(spool.directory)", "results": "\(spooled)"])
        }
        logger.notice("gantry-agent starting", metadata: [
            "version": "\(GantryVersion.current)", "node.id": "\(id)", "coordinator": "\(settings.coordinators.map(\.description).joined(separator: ","))",
            "cpus": "\(inventory.cpus)", "gpus": "\(inventory.gpus.count)", "gpu.source": "\(inventory.gpuSource.rawValue)",
        ])
        let command = self
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: AgentService(agent: agent)),
                    .init(service: SupervisorService(
                        supervisor: Notifier(), logger: logger,
                        ready: { [coordinators = settings.coordinators] in "connecting to \(coordinators.map(\.description).joined(separator: ","))" },
                        status: { await agent.statusLine() },
                        reload: {
                            // The rest of an agent's configuration is what it registered with;
                            // restart the agent to change it.
                            guard let text = try ConfigFile.read(path, isDefault: command.config == nil) else { return "no config file; nothing to reload" }
                            let fresh = try AgentConfig(toml: text, file: path)
                            guard let level = Logger.Level(name: command.logLevel ?? fresh.logLevel) else { throw UsageError("bad log level") }
                            levelControl.level = level
                            return "log level \(level)"
                        })),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            throw CommandFailure("\(error)")
        }
        logger.notice("gantry-agent stopped")
    }
}

/// Builds the engine runners the config names.
func makeEngines(_ configs: [EngineConfig]) throws -> [any Engine] {
    try configs.map { config -> any Engine in
        switch config.kind {
        case .sim: return SimEngine(config: config)
        case .exec: return ExecEngine(config: config)
        case .openai:
            var apiKey: String?
            if let file = config.apiKeyFile {
                apiKey = try ConfigFile.readToken(file, purpose: "API key for engine \(config.name)")
                    .split(whereSeparator: \.isNewline).first.map(String.init)
            }
            return OpenAIEngine(config: config, apiKey: apiKey)
        }
    }
}
