public import Logging
public import ServiceLifecycle
import GantryModel
import GantryNet

/// Drives the core's periodic work (lost nodes, assignment timeouts, the queue), and
/// prunes old outputs from the store once an hour.
public struct Ticker: Service {
    let coordinator: Coordinator
    let intervalMs: Int64
    let retentionMs: Int64
    let logger: Logger

    public init(coordinator: Coordinator, intervalMs: Int64, retentionMs: Int64 = 7 * 86_400_000, logger: Logger) {
        self.coordinator = coordinator
        self.intervalMs = max(10, intervalMs)
        self.retentionMs = retentionMs
        self.logger = logger
    }

    public func run() async throws {
        var lastPrune = ContinuousClock.now - .seconds(3600)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await Task.sleep(for: .milliseconds(intervalMs))
            } catch {
                return
            }
            await coordinator.tick()
            if ContinuousClock.now - lastPrune >= .seconds(3600), let store = coordinator.store {
                lastPrune = ContinuousClock.now
                do {
                    let pruned = try store.pruneOutputs(finishedBefore: WallClock.now() - retentionMs)
                    if pruned > 0 { logger.info("pruned outputs of old jobs", metadata: ["jobs": "\(pruned)", "retention_ms": "\(retentionMs)"]) }
                } catch {
                    logger.error("pruning old outputs failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
