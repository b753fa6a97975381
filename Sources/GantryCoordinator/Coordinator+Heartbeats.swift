import GantryCoordinatorCore
import GantryModel
import GantryRuntime
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Heartbeats do not hop onto the coordinator's actor one by one: a connection puts each
/// into a lock-protected table (the newest per session wins), and `HeartbeatService`
/// applies the whole table in one actor turn, a few times a second. With 10,000 agents at
/// 1 Hz that is a handful of actor turns a second instead of 10,000.
final class HeartbeatInbox: Sendable {
    struct State {
        var pending: [SessionID: (Heartbeat, Timestamp)] = [:]
        /// Whether the service was told since it last drained.
        var signalled = false
    }

    let state = NIOLockedValueBox(State())
    let (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))

    /// From a connection's event loop: keep the newest heartbeat of `session`.
    func stage(_ heartbeat: Heartbeat, session: SessionID, now: Timestamp) {
        let wake = state.withLockedValue { s in
            s.pending[session] = (heartbeat, now)
            defer { s.signalled = true }
            return !s.signalled
        }
        if wake { signal.yield() }
    }

    /// Everything staged so far, oldest first.
    func drain() -> [(SessionID, Heartbeat, Timestamp)] {
        state.withLockedValue { s in
            defer {
                s.pending.removeAll(keepingCapacity: true)
                s.signalled = false
            }
            return s.pending.map { ($0.key, $0.value.0, $0.value.1) }.sorted { $0.2 < $1.2 }
        }
    }
}

extension Coordinator {
    /// Applies the staged heartbeats, each at the time it arrived.
    func applyHeartbeats() {
        for (session, heartbeat, at) in heartbeats.drain() where hasSession(session) {
            execute(core.agentMessage(.heartbeat(heartbeat), session: session, now: at))
        }
    }
}

/// Applies staged heartbeats: woken by the first one staged, it waits `batch` for more and
/// then applies them all at once.
struct HeartbeatService: Service {
    let coordinator: Coordinator
    var batch: Duration = .milliseconds(50)

    func run() async throws {
        for await _ in coordinator.heartbeats.signals.cancelOnGracefulShutdown() {
            try? await Task.sleep(for: batch)
            await coordinator.applyHeartbeats()
        }
    }
}
