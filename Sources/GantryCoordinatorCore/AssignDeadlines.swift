import GantryModel
import HeapModule

/// Assignments waiting for their agent's accept, oldest first, so that `tick` finds the
/// ones past `assignTimeoutMs` (and the next one due) without going through every attempt
/// on every node: under load the core ticks every `startFlushMs`, with thousands of
/// attempts in flight.
///
/// Entries are not removed when an attempt is accepted or ends; `expireAssignments` drops
/// them when they reach the front and no longer await an accept. Ordered by the time of
/// the assignment rather than its deadline, so a changed timeout (SIGHUP) keeps the order.
struct AssignDeadlines: Sendable {
    struct Entry: Comparable, Sendable {
        var assignedAt: Timestamp
        var ref: AttemptRef

        static func < (a: Entry, b: Entry) -> Bool {
            a.assignedAt < b.assignedAt
        }
    }

    private var heap = Heap<Entry>()

    var oldest: Entry? { heap.min }

    mutating func insert(_ ref: AttemptRef, assignedAt: Timestamp) {
        heap.insert(Entry(assignedAt: assignedAt, ref: ref))
    }

    mutating func removeOldest() {
        if !heap.isEmpty { _ = heap.removeMin() }
    }
}
