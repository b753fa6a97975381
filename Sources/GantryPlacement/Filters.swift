import GantryModel

/// A feasibility check. `reject` returns nil when the node passes, or the reason it does
/// not; `admits` is the same answer without building the reason (the hot path).
///
/// A filter that only looks at the node's engines sets `passedByAnyCandidate`: it must
/// admit every node with an engine that serves the model, is healthy and has a free slot.
/// The hot path then skips it for nodes that yield such a candidate anyway, and runs it
/// only to name the filter that rejected a node that yields none.
public protocol PlacementFilter: Sendable {
    var name: String { get }
    func reject(_ node: PlacementNode, for request: PlacementRequest) -> String?
    func admits(_ node: PlacementNode, for request: PlacementRequest) -> Bool
    var passedByAnyCandidate: Bool { get }
}

extension PlacementFilter {
    public func admits(_ node: PlacementNode, for request: PlacementRequest) -> Bool { reject(node, for: request) == nil }
    public var passedByAnyCandidate: Bool { false }
}

/// Only connected `ready` nodes take work: not cordoned, draining, drained or lost.
public struct NodeStateFilter: PlacementFilter {
    public init() {}
    public var name: String { "node-state" }
    public func admits(_ node: PlacementNode, for request: PlacementRequest) -> Bool { node.state == .ready && node.connected }
    public func reject(_ node: PlacementNode, for request: PlacementRequest) -> String? {
        if node.state != .ready { return "node is \(node.state.rawValue)" }
        return node.connected ? nil : "node is disconnected (waiting for its agent to reconnect)"
    }
}

/// Every `key=value` constraint of the job must match one of the node's labels.
public struct ConstraintFilter: PlacementFilter {
    public init() {}
    public var name: String { "constraints" }
    public func admits(_ node: PlacementNode, for request: PlacementRequest) -> Bool {
        request.constraints.allSatisfy { node.labels[$0.key] == $0.value }
    }
    public func reject(_ node: PlacementNode, for request: PlacementRequest) -> String? {
        for key in request.constraints.keys.sorted() {
            let want = request.constraints[key]!
            guard let have = node.labels[key] else { return "label \(key) is missing; the job needs \(key)=\(want)" }
            if have != want { return "label \(key)=\(have); the job needs \(key)=\(want)" }
        }
        return nil
    }
}

/// One of the node's engines serves the job's model.
public struct ModelFilter: PlacementFilter {
    public init() {}
    public var name: String { "model" }
    public var passedByAnyCandidate: Bool { true }
    public func admits(_ node: PlacementNode, for request: PlacementRequest) -> Bool {
        node.engines.contains { $0.serves(request.model) }
    }
    public func reject(_ node: PlacementNode, for request: PlacementRequest) -> String? {
        if node.engines.contains(where: { $0.serves(request.model) }) { return nil }
        let served = Set(node.engines.flatMap(\.models)).sorted()
        return served.isEmpty
            ? "no engine serves model \(request.model) (the node has no engines)"
            : "no engine serves model \(request.model) (serves: \(served.joined(separator: ", ")))"
    }
}

/// One of the engines serving the model passes its health probe.
public struct EngineHealthFilter: PlacementFilter {
    public init() {}
    public var name: String { "engine-health" }
    public var passedByAnyCandidate: Bool { true }
    public func admits(_ node: PlacementNode, for request: PlacementRequest) -> Bool {
        node.engines.contains { $0.healthy && $0.serves(request.model) }
    }
    public func reject(_ node: PlacementNode, for request: PlacementRequest) -> String? {
        let serving = node.engines.filter { $0.serves(request.model) }
        if serving.contains(where: \.healthy) { return nil }
        return "engine \(serving.map(\.name).joined(separator: ", ")) is unhealthy"
    }
}

/// A healthy engine serving the model has a free slot. Counts assumed slots, so a
/// burst of decisions never over-commits a node.
public struct CapacityFilter: PlacementFilter {
    public init() {}
    public var name: String { "capacity" }
    public var passedByAnyCandidate: Bool { true }
    public func admits(_ node: PlacementNode, for request: PlacementRequest) -> Bool {
        node.engines.contains { $0.free > 0 && $0.serves(request.model) }
    }
    public func reject(_ node: PlacementNode, for request: PlacementRequest) -> String? {
        let serving = node.engines.filter { $0.serves(request.model) && $0.healthy }
        if serving.contains(where: { $0.free > 0 }) { return nil }
        return "no free slot (" + serving.map { "\($0.name) \($0.used)/\($0.slots) used" }.joined(separator: ", ") + ")"
    }
}
