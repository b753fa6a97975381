public import GantryModel
public import GantryAccounting
public import GantryPersistence

/// What the coordinator core asks its shell to do. The shell carries directives out in
/// order and never decides anything itself.
public indirect enum CoordinatorDirective: Hashable, Sendable {
    /// Send a message to an agent session.
    case send(SessionID, CoordinatorMessage)
    /// Answer a control request.
    case reply(SessionID, requestID: UInt64, Result<AdminResponse, GantryError>)
    /// Stream a change of a watched job.
    case jobEvent(SessionID, requestID: UInt64, JobEvent)
    /// Send an error frame; a fatal one is followed by closing the session.
    case error(SessionID, GantryError, fatal: Bool)
    /// Close a session (after a Goodbye carrying the reason).
    case close(SessionID, reason: String)
    /// Something an operator wants in the log and metrics.
    case notice(Notice)
    /// Call `tick` at this time (or earlier): the core's periodic work is due then. The
    /// shell keeps the earliest time asked for.
    case wakeUp(at: Timestamp)
    /// Make this durable (group commit).
    case persist(StoreChange)
    /// Read from the store, off the coordinator's loop; the answer comes back to the core
    /// as `queryAnswered`, which replies.
    case query(SessionID, requestID: UInt64, StoreQuery)
    /// Carry out the inner directive only once every change persisted before it is
    /// durable: submit acknowledgements, assignments and result acks. The shell keeps
    /// outbound messages in order behind it.
    case durable(CoordinatorDirective)
}

/// Notable cluster events, for logs and metrics. They change nothing.
public enum Notice: Hashable, Sendable {
    case nodeRegistered(NodeID, address: String, replacedSession: Bool)
    case nodeDisconnected(NodeID)
    case nodeLost(NodeID, silentForMs: Int64)
    case nodeStateChanged(NodeID, NodeState)
    case jobPlaced(AttemptRef, node: NodeID, engine: String)
    case attemptEnded(AttemptRef, node: NodeID, state: AttemptState, reason: String?)
    case jobFinished(JobID, JobState, model: String, tenant: String, usage: Usage)
    case staleMessage(AttemptRef, node: NodeID, what: String)
    /// An attempt was billed (also written to the ledger when there is a store).
    case billed(LedgerEntry)
    /// Idle cost accrued on a node.
    case idleAccrued(IdleAccrual)
    /// An engine's own token count and Gantry's for it differ by more than 1 % over the
    /// drift window (`over`), or agree again.
    case tokenDrift(EngineRef, TokenDrift.Reading, over: Bool)
}
