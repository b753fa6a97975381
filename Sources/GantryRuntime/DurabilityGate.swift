public import DequeModule

/// Keeps outbound work behind the writes it depends on, in order: one rule for both shells.
///
/// A core ends an event with the changes to make durable (`.persist` / `.spool`) and wraps
/// each acknowledgement that promises durability in `.durable`. The shell hands the changes
/// to its group-commit writer, which returns a sequence number, and passes every outbound
/// directive through the gate: a durable one waits for everything submitted before it, and
/// any directive behind a waiting one waits too, so a peer never sees messages out of order.
/// When the writer reports a commit, the gate releases what it covered.
///
/// Inlinable, so each shell's module specialises it for its own directive type: called for
/// every directive, the unspecialised generic code looked up its type metadata each time
/// (about 2 % of an agent's CPU at full throughput).
public struct DurabilityGate<Item> {
    @usableFromInline var submitted: UInt64 = 0
    @usableFromInline var durable: UInt64 = 0
    @usableFromInline var held: Deque<(seq: UInt64, item: Item)> = []
    @usableFromInline var waiters: [(seq: UInt64, continuation: CheckedContinuation<Void, Never>)] = []

    @inlinable
    public init() {}

    /// Changes were handed to the writer under `seq`.
    @inlinable
    public mutating func submitted(_ seq: UInt64) {
        submitted = max(submitted, seq)
    }

    /// An item that may only be carried out once everything submitted so far is durable.
    /// Returns it if it may go now; otherwise the gate keeps it.
    @inlinable
    public mutating func durable(_ item: Item) -> Item? {
        if submitted > durable || !held.isEmpty {
            held.append((submitted, item))
            return nil
        }
        return item
    }

    /// An item with no durability need of its own: it goes now unless something is held
    /// ahead of it, in which case it keeps its place behind that.
    @inlinable
    public mutating func ordered(_ item: Item) -> Item? {
        guard let last = held.last else { return item }
        held.append((last.seq, item))
        return nil
    }

    /// The writer made everything through `seq` durable: the items it released, in order.
    @inlinable
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
    @inlinable
    public mutating func resumeWhenDurable(_ continuation: CheckedContinuation<Void, Never>) {
        if isDurable {
            continuation.resume()
        } else {
            waiters.append((submitted, continuation))
        }
    }

    /// The sequence number that covers everything submitted so far.
    @inlinable
    public var lastSubmitted: UInt64 { submitted }
    /// Whether everything submitted so far is durable.
    @inlinable
    public var isDurable: Bool { submitted <= durable }
    /// How many items wait.
    @inlinable
    public var heldCount: Int { held.count }
}
