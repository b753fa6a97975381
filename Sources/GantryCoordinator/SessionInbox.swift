import GantryModel
import GantryNet
import GantryRuntime
import GantryWire
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
typealias SessionInbox = BatchInbox<SessionEvent>

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
