public import ServiceLifecycle

/// Drives the core's periodic work (lost nodes, assignment timeouts, the queue).
public struct Ticker: Service {
    let coordinator: Coordinator
    let intervalMs: Int64

    public init(coordinator: Coordinator, intervalMs: Int64) {
        self.coordinator = coordinator
        self.intervalMs = max(10, intervalMs)
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await Task.sleep(for: .milliseconds(intervalMs))
            } catch {
                return
            }
            await coordinator.tick()
        }
    }
}
