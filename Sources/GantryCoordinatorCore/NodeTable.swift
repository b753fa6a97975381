import GantryModel
import GantryPlacement

/// The coordinator's node records, with each node's placement view mirrored in an array
/// by slot.
///
/// A decision reads only the views, by slot: no hashing, and copying a `PlacementNode`
/// costs a few reference counts where copying a whole `NodeRecord` (meter, inventory,
/// stats…) costs dozens. Every change to a record goes through the subscript, which
/// refreshes the mirror afterwards, so the two can never disagree. A node keeps its slot
/// for the life of the process (nodes are never forgotten, only marked lost).
struct NodeTable: Sendable {
    typealias Slot = Int32

    private(set) var records: [NodeID: NodeRecord] = [:]
    private var slots: [NodeID: Slot] = [:]
    private(set) var views: [PlacementNode?] = []

    subscript(id: NodeID) -> NodeRecord? {
        get { records[id] }
        set {
            records[id] = newValue
            mirror(id)
        }
        _modify {
            defer { mirror(id) }
            yield &records[id]
        }
    }

    /// The slot a node's view lives in (allocated when the node is first stored).
    func slot(of id: NodeID) -> Slot? { slots[id] }

    var keys: Dictionary<NodeID, NodeRecord>.Keys { records.keys }
    /// The ids, to change records while going through them: a loop over `keys` keeps the
    /// table's storage referenced, so its first change copies every record (14 MB at
    /// 10,000 nodes, once per tick).
    var ids: [NodeID] { Array(records.keys) }
    var values: Dictionary<NodeID, NodeRecord>.Values { records.values }
    var count: Int { records.count }

    private mutating func mirror(_ id: NodeID) {
        let slot: Slot
        if let s = slots[id] {
            slot = s
        } else {
            guard records[id] != nil else { return }
            slot = Slot(views.count)
            slots[id] = slot
            views.append(nil)
        }
        // In place: neither the record nor its view is copied as a whole.
        if records[id]?.mirror(into: &views[Int(slot)]) == nil { views[Int(slot)] = nil }
    }
}

extension NodeRecord {
    fileprivate mutating func mirror(into view: inout PlacementNode?) {
        view = placement
    }
}
