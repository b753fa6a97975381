import Logging
import ServiceLifecycle
import UnixSignals

/// SIGHUP for the agent: re-read the config file's log level (the rest of an agent's
/// configuration is what it registered with; restart the agent to change it).
struct ReloadService: Service {
    let reload: @Sendable () throws -> String
    let notify: @Sendable (String) -> Void
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            notify("RELOADING=1")
            do {
                let changes = try reload()
                logger.notice("reloaded on SIGHUP", metadata: ["changes": "\(changes)"])
            } catch {
                logger.error("reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
            }
            notify("READY=1")
        }
    }
}
