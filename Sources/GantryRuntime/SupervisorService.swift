public import Logging
public import ServiceLifecycle
import UnixSignals

/// A daemon's conversation with its supervisor, for gantryd and gantry-agent alike:
/// READY=1 once the daemon says it is serving, a STATUS= line every two seconds and
/// WATCHDOG=1 at half the watchdog interval (both computed by calling into the daemon, so
/// a daemon whose loop hangs stops pinging and gets restarted), SIGHUP reloads between
/// RELOADING=1 and READY=1, and STOPPING=1 when a graceful shutdown begins.
public struct SupervisorService: Service {
    let supervisor: any Supervisor
    let logger: Logger
    /// Waits until the daemon serves; returns the status line to announce with READY=1.
    let ready: @Sendable () async throws -> String
    /// The daemon's current status line (its own loop answers it).
    let status: @Sendable () async -> String
    /// Re-reads the configuration; returns a line for the log.
    let reload: @Sendable () async throws -> String

    public init(
        supervisor: any Supervisor, logger: Logger, ready: @escaping @Sendable () async throws -> String,
        status: @escaping @Sendable () async -> String, reload: @escaping @Sendable () async throws -> String
    ) {
        self.supervisor = supervisor
        self.logger = logger
        self.ready = ready
        self.status = status
        self.reload = reload
    }

    public func run() async throws {
        supervisor.ready(status: try await ready())
        let signals = await UnixSignalsSequence(trapping: .sighup)
        let supervisor = self.supervisor
        let (status, reload, logger) = (self.status, self.reload, self.logger)
        await withDiscardingTaskGroup { group in
            group.addTask {
                await Self.ping(supervisor, status: status)
            }
            group.addTask {
                for await _ in signals.cancelOnGracefulShutdown() {
                    supervisor.reloading()
                    do {
                        let summary = try await reload()
                        logger.notice("reloaded on SIGHUP", metadata: ["changes": "\(summary)"])
                    } catch {
                        logger.error("reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
                    }
                    supervisor.ready(status: nil)
                }
            }
            try? await gracefulShutdown()
            supervisor.stopping()
            group.cancelAll()
        }
    }

    /// STATUS= every two seconds, WATCHDOG=1 at half the watchdog interval.
    static func ping(_ supervisor: any Supervisor, status: @Sendable () async -> String) async {
        let statusEvery = Duration.seconds(2)
        let period = min(statusEvery, supervisor.watchdogInterval.map { $0 / 2 } ?? statusEvery)
        var lastStatus: ContinuousClock.Instant?
        while !Task.isCancelled {
            let line = await status()
            let now = ContinuousClock.now
            if lastStatus.map({ now - $0 >= statusEvery }) ?? true {
                supervisor.status(line)
                lastStatus = now
            }
            if supervisor.watchdogInterval != nil { supervisor.watchdog() }
            try? await Task.sleep(for: period)
        }
    }
}
