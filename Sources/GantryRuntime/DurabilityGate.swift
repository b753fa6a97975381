import DequeModule

/// Keeps outbound work behind the writes it depends on, in order: one rule for both shells.
///
/// A core ends an event with the changes to make durable (`.persist` / `.spool`) and wraps
/// each acknowledgement that promises durability in `.durable`. The shell hands the changes
/// to its group-commit writer, which returns a sequence number, and passes every outbound
/// directive through the gate: a durable one waits for everything submitted before it, and
/// any directive behind a waiting one waits too, so a peer never sees messages out of order.
/// When the writer reports a commit, the gate releases what it covered.
public struct DurabilityGate<Item> {
    private var submitted: UInt64 = 0
    private var durable: UInt64 = 0
    private var held: Deque<(seq: UInt64, item: Item)> = []
    private var waiters: [(seq: UInt64, continuation: CheckedContinuation<Void, Never>)] = []

    public init() {}

    /// Changes were handed to the writer under `seq`.
    public mutating func submitted(_ seq: UInt64) {
        submitted = max(submitted, seq)
    }

    /// An item that may only be carried out once everything submitted so far is durable.
    /// Returns it if it may go now; otherwise the gate keeps it.
    public mutating func durable(_ item: Item) -> Item? {
        if submitted > durable || !held.isEmpty {
            held.append((submitted, item))
            return nil
        }
        return item
    }

    /// An item with no durability need of its own: it goes now unless something is held
    /// ahead of it, in which case it keeps its place behind that.
    public mutating func ordered(_ item: Item) -> Item? {
        guard let last = held.last else { return item }
        held.append((last.seq, item))
        return nil
    }

    /// The writer made everything through `seq` durable: the items it released, in order.
    public mutating func committed(through seq: UInt64) -> [Item] {
        durable = max(durable, seq)
        var released: [Item] = []
        while let first = held.first, first.seq <= durable {
            released.append(held.removeFirst().item)
        }
        if !waiters.isEmpty {
            let durable = self.durable
            for w in waiters where w.seq <= durable { w.continuation.resume() }
            waiters.removeAll { $0.seq <= durable }
        }
        return released
    }

    /// Resumes `continuation` once everything submitted so far is durable (at once if it is).
    public mutating func resumeWhenDurable(_ continuation: CheckedContinuation<Void, Never>) {
        if isDurable {
            continuation.resume()
        } else {
            waiters.append((submitted, continuation))
        }
    }

    /// The sequence number that covers everything submitted so far.
    public var lastSubmitted: UInt64 { submitted }
    /// Whether everything submitted so far is durable.
    public var isDurable: Bool { submitted <= durable }
    /// How many items wait.
    public var heldCount: Int { held.count }
}
