public import GantryModel
public import GantryAccounting

/// A change the shell must make durable. Changes to the same job or node within one
/// group commit are coalesced by the store; ledger rows are written at most once.
public enum StoreChange: Hashable, Sendable {
    /// Insert or update a job and its attempts (a job the store may not hold yet).
    case job(Job)
    /// A job the store holds already, with its first `storedAttempts` attempts: only what
    /// changes after a submit is written (state, times, output, usage), those attempts are
    /// updated and the later ones inserted. A job the store does not hold fails the commit.
    case jobUpdate(Job, storedAttempts: Int)
    /// Insert or update a node.
    case node(PersistedNode)
    /// Insert a ledger row (ignored if one exists for the same job and attempt).
    case ledger(LedgerEntry)
    /// Idle cost accrued on a node.
    case idle(IdleAccrual)
    /// Insert or update an API key (its hash, never the key).
    case apiKey(ApiKey)

    /// The job this change writes, whole or as an update.
    public var job: Job? {
        switch self {
        case .job(let j), .jobUpdate(let j, _): j
        default: nil
        }
    }

    public var isLedger: Bool {
        if case .ledger = self { return true }
        return false
    }
}
