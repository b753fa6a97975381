public import Logging
public import ServiceLifecycle
import UnixSignals

/// The coordinator's conversation with systemd (or any supervisor):
/// READY=1 once both listeners are bound (state was loaded before they start), STATUS= and
/// WATCHDOG=1 from the coordinator's own tick, SIGHUP reloads with RELOADING=1 …
/// READY=1, and STOPPING=1 when a graceful shutdown begins.
public struct SupervisorService: Service {
    let services: CoordinatorServices
    let notify: @Sendable (String) -> Void
    let watchdogMicros: UInt64?
    let reload: @Sendable () async throws -> String
    let logger: Logger

    /// `reload` re-reads the configuration and returns a line for the log.
    public init(
        services: CoordinatorServices, notify: @escaping @Sendable (String) -> Void, watchdogMicros: UInt64?,
        logger: Logger, reload: @escaping @Sendable () async throws -> String
    ) {
        self.services = services
        self.notify = notify
        self.watchdogMicros = watchdogMicros
        self.reload = reload
        self.logger = logger
    }

    public func run() async throws {
        let protocolAddress = try await services.protocolListener.address.value
        let httpAddress = try await services.httpListener.address.value
        await services.coordinator.superviseWith(send: notify, watchdogMicros: watchdogMicros)
        notify("READY=1\nSTATUS=listening on \(protocolAddress) and \(httpAddress)")
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await withDiscardingTaskGroup { group in
            group.addTask {
                try? await gracefulShutdown()
                notify("STOPPING=1")
            }
            for await _ in signals.cancelOnGracefulShutdown() {
                notify(Self.reloadingState())
                do {
                    let summary = try await reload()
                    logger.notice("reloaded on SIGHUP", metadata: ["changes": "\(summary)"])
                } catch {
                    logger.error("reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
                }
                notify("READY=1")
            }
        }
    }

    static func reloadingState() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return "RELOADING=1\nMONOTONIC_USEC=\(UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000)"
    }
}

#if canImport(Glibc)
import Glibc
#endif
