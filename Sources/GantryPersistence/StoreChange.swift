public import GantryModel
public import GantryAccounting

/// A change the shell must make durable. Changes to the same job or node within one
/// group commit are coalesced by the store; ledger rows are written at most once.
public enum StoreChange: Hashable, Sendable {
    /// Insert or update a job and its attempts.
    case job(Job)
    /// Insert or update a node.
    case node(PersistedNode)
    /// Insert a ledger row (ignored if one exists for the same job and attempt).
    case ledger(LedgerEntry)
    /// Idle cost accrued on a node.
    case idle(IdleAccrual)
    /// Insert or update an API key (its hash, never the key).
    case apiKey(ApiKey)

    public var isLedger: Bool {
        if case .ledger = self { return true }
        return false
    }
}
