public import GantryModel

/// What the agent core asks its shell to do, in order.
public indirect enum AgentDirective: Hashable, Sendable {
    /// Send to the coordinator (dropped while disconnected; the core re-sends what matters
    /// on reconnect).
    case send(AgentMessage)
    /// Run an attempt on its engine.
    case start(Assignment)
    /// Stop a running attempt; the engine then finishes it as cancelled.
    case stop(AttemptRef, reason: String)
    /// Make a result durable in the spool (group commit).
    case spool(AttemptResult)
    /// The coordinator has the result durably: drop it from the spool.
    case unspool(AttemptRef)
    /// Carry out the inner directive only once every `.spool` before it is durable: a
    /// result is never sent before it is on disk. Directives after it keep their order.
    case durable(AgentDirective)
}
