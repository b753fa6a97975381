public import Logging
public import ServiceLifecycle
import GantryModel
import GantryRuntime
import GantryPersistence

/// Runs the core's periodic work (lost nodes, assignment timeouts, idle cost) when the core
/// asked for it (`wakeUp(at:)`), and prunes old outputs and history from the store once an
/// hour.
public struct Ticker: Service {
    let coordinator: Coordinator
    let retentionMs: Int64
    let historyRetentionMs: Int64
    let logger: Logger

    public init(coordinator: Coordinator, retentionMs: Int64 = 7 * 86_400_000, historyRetentionMs: Int64 = 30 * 86_400_000, logger: Logger) {
        self.coordinator = coordinator
        self.retentionMs = retentionMs
        self.historyRetentionMs = historyRetentionMs
        self.logger = logger
    }

    public func run() async throws {
        var lastPrune = ContinuousClock.now - .seconds(3600)
        while !Task.isShuttingDownGracefully {
            await coordinator.tick()
            if ContinuousClock.now - lastPrune >= .seconds(3600), let store = coordinator.store {
                lastPrune = ContinuousClock.now
                do {
                    let pruned = try await store.pruneOutputs(finishedBefore: WallClock.now() - retentionMs)
                    if pruned > 0 { logger.info("pruned outputs of old jobs", metadata: ["jobs": "\(pruned)", "retention_ms": "\(retentionMs)"]) }
                } catch {
                    logger.error("pruning old outputs failed", metadata: ["error": "\(error)"])
                }
                do {
                    let pruned = try await store.pruneHistory(before: WallClock.now() - historyRetentionMs)
                    if pruned > 0 { logger.info("pruned old history", metadata: ["rows": "\(pruned)", "retention_ms": "\(historyRetentionMs)"]) }
                } catch {
                    logger.error("pruning old history failed", metadata: ["error": "\(error)"])
                }
            }
            let timer = coordinator.wakeTimer
            do {
                try await cancelWhenGracefulShutdown { try await timer.sleepUntilDue(now: WallClock.now) }
            } catch {
                return
            }
        }
    }
}

/// Answers the core's store queries (job lookups, listings, reports) off the coordinator
/// actor, several at once, and hands each answer back to the core.
struct QueryService: Service {
    let coordinator: Coordinator

    func run() async throws {
        guard let store = coordinator.store else { return }
        let coordinator = self.coordinator
        await withDiscardingTaskGroup { group in
            for await pending in coordinator.queries.cancelOnGracefulShutdown() {
                group.addTask {
                    let answer: Result<StoreAnswer, GantryError>
                    do {
                        answer = .success(try await store.answer(pending.query))
                    } catch {
                        answer = .failure(GantryError(.unavailable, "the store could not be read: \(error)"))
                    }
                    await coordinator.answered(pending, answer)
                }
            }
        }
    }
}
