import GantryModel

/// The nodes that serve one model (by their `NodeTable` slot), in an order a scan can
/// start anywhere in.
///
/// Insert and remove are O(1) (remove moves the last node into the hole). The cursor
/// is where the next decision starts, so successive decisions look at different nodes
/// and a limited scan still spreads work over the whole ring.
struct NodeRing: Sendable {
    typealias Slot = NodeTable.Slot

    private(set) var ids: [Slot] = []
    private var position: [Slot: Int] = [:]
    private(set) var cursor = 0

    var isEmpty: Bool { ids.isEmpty }
    var count: Int { ids.count }

    mutating func insert(_ id: Slot) {
        guard position[id] == nil else { return }
        position[id] = ids.count
        ids.append(id)
    }

    mutating func remove(_ id: Slot) {
        guard let i = position.removeValue(forKey: id) else { return }
        let last = ids.removeLast()
        if i < ids.count {
            ids[i] = last
            position[last] = i
        }
        if cursor >= ids.count { cursor = 0 }
    }

    /// Every node once, starting at the cursor.
    var rotated: Rotation { Rotation(ids: ids, index: cursor, remaining: ids.count) }

    struct Rotation: Sequence, IteratorProtocol {
        let ids: [Slot]
        var index: Int
        var remaining: Int

        mutating func next() -> Slot? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            defer { index = index + 1 == ids.count ? 0 : index + 1 }
            return ids[index]
        }
    }

    /// Moves the cursor past the `visited` nodes a decision looked at.
    mutating func advance(by visited: Int) {
        guard !ids.isEmpty else { return }
        cursor = (cursor + visited) % ids.count
    }
}
