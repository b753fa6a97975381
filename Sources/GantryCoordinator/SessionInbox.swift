import GantryModel
import GantryNet
import GantryWire
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// What the connections tell the coordinator, in the order they saw it.
enum SessionEvent: Sendable {
    /// A handshake finished: the session `id` is `peer`, writing through `outbox`.
    case opened(SessionID, EstablishedPeer, address: String, Outbox)
    /// A frame of session `id`, `bytes` long on the wire; `gate` is told once it was handled.
    case frame(SessionID, WireEnvelope, ReadGate, bytes: Int)
    /// The connection is gone.
    case closed(SessionID)
}

/// The connections' frames on their way to the coordinator's actor, without a task per
/// connection: a connection's handler appends on its event loop (`SessionHandler`), and
/// `SessionService` takes everything appended since its last turn and applies it in one
/// actor turn. One queue for all connections keeps each connection's events in order.
final class SessionInbox: Sendable {
    private struct State {
        var events: [SessionEvent] = []
        var signalled = false
    }

    private let state = NIOLockedValueBox(State())
    let (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))

    func post(_ event: SessionEvent) {
        let wake = state.withLockedValue { s in
            s.events.append(event)
            defer { s.signalled = true }
            return !s.signalled
        }
        if wake { signal.yield() }
    }

    /// Everything posted so far, in order.
    func drain() -> [SessionEvent] {
        state.withLockedValue { s in
            s.signalled = false
            defer { s.events.removeAll(keepingCapacity: true) }
            return s.events
        }
    }

}

/// Applies the connections' events: woken by the first event posted after its last
/// turn, it applies everything queued in one actor turn. It stops after the protocol
/// listener (see `CoordinatorServices.all`), so the connections' last events are applied.
struct SessionService: Service {
    let coordinator: Coordinator

    func run() async {
        let inbox = coordinator.sessionInbox
        for await _ in inbox.signals.cancelOnGracefulShutdown() {
            await apply(inbox.drain())
        }
        await apply(inbox.drain())
    }

    private func apply(_ events: [SessionEvent]) async {
        if !events.isEmpty { await coordinator.apply(events) }
    }
}
