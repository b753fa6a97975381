import GantryModel
import GantryPlacement

/// The coordinator's node records, with each node's placement view mirrored in an array
/// by slot.
///
/// A decision reads only the views, by slot: no hashing, and copying a `PlacementNode`
/// costs a few reference counts where copying a whole `NodeRecord` (meter, inventory,
/// stats…) costs dozens. Every change to a record goes through the subscript, which
/// refreshes the mirror afterwards when the record's `placementVersion` moved, so the two
/// can never disagree; a whole new record goes in through the setter (`nodes[id] = r`,
/// which always refreshes it), not through `nodes[id]! = r`, whose version may match the
/// old one's. A node keeps its slot for the life of the process (nodes are never
/// forgotten, only marked lost).
struct NodeTable: Sendable {
    typealias Slot = Int32

    private var slots: [NodeID: Slot] = [:]
    /// By slot, as the views: a change is made in place in the array (a dictionary's
    /// `_modify` moves the whole record out and back), and a read borrows it.
    private var records: [NodeRecord?] = []
    private(set) var views: [PlacementNode?] = []

    subscript(id: NodeID) -> NodeRecord? {
        _read {
            if let slot = slots[id] { yield records[Int(slot)] } else { yield nil }
        }
        set {
            guard let i = slot(for: id, storing: newValue != nil) else { return }
            records[i] = newValue
            views[i] = newValue?.placement
        }
        _modify {
            if let slot = slots[id] {
                let i = Int(slot)
                let version = records[i]?.placementVersion
                defer {
                    // The view is copied only when placement's part of the record changed.
                    if records[i]?.placementVersion != version { views[i] = records[i]?.placement }
                }
                yield &records[i]
            } else {
                var added: NodeRecord?
                defer { if added != nil { self[id] = added } }
                yield &added
            }
        }
    }

    /// Changes a record in place with one look-up (the subscript's `_modify` looks it up at
    /// every use) and refreshes its view if placement's part moved; nil if there is none.
    mutating func update<R>(_ id: NodeID, _ body: (inout NodeRecord) -> R) -> R? {
        guard let slot = slots[id], records[Int(slot)] != nil else { return nil }
        let i = Int(slot)
        let version = records[i]!.placementVersion
        let result = body(&records[i]!)
        if records[i]!.placementVersion != version { views[i] = records[i]!.placement }
        return result
    }

    /// The slot a node's view lives in (allocated when the node is first stored).
    func slot(of id: NodeID) -> Slot? { slots[id] }

    private mutating func slot(for id: NodeID, storing: Bool) -> Int? {
        if let s = slots[id] { return Int(s) }
        guard storing else { return nil }
        slots[id] = Slot(records.count)
        records.append(nil)
        views.append(nil)
        return records.count - 1
    }

    /// Every node ever stored (nodes are never removed).
    var keys: Dictionary<NodeID, Slot>.Keys { slots.keys }
    /// The ids, to change records while going through them.
    var ids: [NodeID] { Array(slots.keys) }
    var values: LazyMapSequence<LazyFilterSequence<[NodeRecord?]>, NodeRecord> { records.lazy.filter { $0 != nil }.map { $0! } }
    var count: Int { slots.count }
}
