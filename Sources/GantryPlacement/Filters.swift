public import GantryModel

/// A feasibility rule. Each filter states its rule once, in `verdict`: it admits the node
/// or rejects it, and spells out why only when `explaining` (the hot path builds no
/// strings, and cannot disagree with the explanation).
///
/// A filter that only looks at the node's engines sets `passedByAnyCandidate`: it must
/// admit every node with an engine that serves the model, is healthy and has a free slot.
/// The hot path then skips it for nodes that yield such a candidate anyway, and runs it
/// only to name the filter that rejected a node that yields none.
public protocol PlacementFilter: Sendable {
    var name: String { get }
    func verdict(_ node: PlacementNode, for request: PlacementRequest, explaining: Bool) -> FilterVerdict
    var passedByAnyCandidate: Bool { get }
}

public enum FilterVerdict: Hashable, Sendable {
    case admit
    /// The reason is nil unless the caller was explaining.
    case reject(String?)

    public var admits: Bool { self == .admit }
}

extension PlacementFilter {
    public var passedByAnyCandidate: Bool { false }

    /// The verdict without a reason.
    @inlinable
    public func admits(_ node: PlacementNode, for request: PlacementRequest) -> Bool {
        verdict(node, for: request, explaining: false).admits
    }

    /// Why the node is rejected, or nil when it is admitted.
    public func reject(_ node: PlacementNode, for request: PlacementRequest) -> String? {
        guard case .reject(let reason) = verdict(node, for: request, explaining: true) else { return nil }
        return reason ?? name
    }
}

/// Only connected `ready` nodes take work: not cordoned, draining, drained or lost.
public struct NodeStateFilter: PlacementFilter {
    public init() {}
    public var name: String { "node-state" }
    public func verdict(_ node: PlacementNode, for request: PlacementRequest, explaining: Bool) -> FilterVerdict {
        if node.state != .ready { return .reject(explaining ? "node is \(node.state.rawValue)" : nil) }
        if !node.connected { return .reject(explaining ? "node is disconnected (waiting for its agent to reconnect)" : nil) }
        return .admit
    }
}

/// Every `key=value` constraint of the job must match one of the node's labels.
public struct ConstraintFilter: PlacementFilter {
    public init() {}
    public var name: String { "constraints" }
    public func verdict(_ node: PlacementNode, for request: PlacementRequest, explaining: Bool) -> FilterVerdict {
        if request.constraints.allSatisfy({ node.labels[$0.key] == $0.value }) { return .admit }
        guard explaining else { return .reject(nil) }
        // The first unmet constraint, in key order, so the explanation is stable.
        for key in request.constraints.keys.sorted() {
            let want = request.constraints[key]!
            guard let have = node.labels[key] else { return .reject("label \(key) is missing; the job needs \(key)=\(want)") }
            if have != want { return .reject("label \(key)=\(have); the job needs \(key)=\(want)") }
        }
        return .reject(nil)
    }
}

/// One of the node's engines serves the job's model.
public struct ModelFilter: PlacementFilter {
    public init() {}
    public var name: String { "model" }
    public var passedByAnyCandidate: Bool { true }
    public func verdict(_ node: PlacementNode, for request: PlacementRequest, explaining: Bool) -> FilterVerdict {
        if node.engines.contains(where: { $0.serves(request.model) }) { return .admit }
        guard explaining else { return .reject(nil) }
        let served = Set(node.engines.flatMap(\.models)).sorted()
        return .reject(served.isEmpty
            ? "no engine serves model \(request.model) (the node has no engines)"
            : "no engine serves model \(request.model) (serves: \(served.joined(separator: ", ")))")
    }
}

/// One of the engines serving the model passes its health probe.
public struct EngineHealthFilter: PlacementFilter {
    public init() {}
    public var name: String { "engine-health" }
    public var passedByAnyCandidate: Bool { true }
    public func verdict(_ node: PlacementNode, for request: PlacementRequest, explaining: Bool) -> FilterVerdict {
        if node.engines.contains(where: { $0.healthy && $0.serves(request.model) }) { return .admit }
        guard explaining else { return .reject(nil) }
        return .reject("engine \(node.engines.filter { $0.serves(request.model) }.map(\.name).joined(separator: ", ")) is unhealthy")
    }
}

/// A healthy engine serving the model has a free slot. Counts assumed slots, so a
/// burst of decisions never over-commits a node.
public struct CapacityFilter: PlacementFilter {
    public init() {}
    public var name: String { "capacity" }
    public var passedByAnyCandidate: Bool { true }
    public func verdict(_ node: PlacementNode, for request: PlacementRequest, explaining: Bool) -> FilterVerdict {
        if node.engines.contains(where: { $0.free > 0 && $0.serves(request.model) }) { return .admit }
        guard explaining else { return .reject(nil) }
        let serving = node.engines.filter { $0.serves(request.model) && $0.healthy }
        return .reject("no free slot (" + serving.map(\.usage).joined(separator: ", ") + ")")
    }
}

/// A healthy engine serving the model, with a free slot, is not full by its own account:
/// its KV-cache use is at most `kv_high_watermark` and its own queue at most
/// `max_engine_queue`. An engine without telemetry passes.
public struct EngineLoadFilter: PlacementFilter {
    public let limits: EngineLoadLimits

    public init(limits: EngineLoadLimits = EngineLoadLimits()) { self.limits = limits }
    public var name: String { "engine-load" }
    public var passedByAnyCandidate: Bool { true }
    public func verdict(_ node: PlacementNode, for request: PlacementRequest, explaining: Bool) -> FilterVerdict {
        let open = node.engines.filter { $0.free > 0 && $0.serves(request.model) }
        if open.contains(where: { !$0.overloaded(limits) }) { return .admit }
        guard explaining else { return .reject(nil) }
        if open.isEmpty { return .reject("no engine serving model \(request.model) has a free slot") }
        return .reject(open.map { "\($0.name) \($0.overload(limits) ?? "is full")" }.joined(separator: "; "))
    }
}

extension PlacementEngine {
    /// "e 2/4 used", or "e 4/4 used (1 by Gantry, 3 by other clients)".
    var usage: String {
        outside > 0 ? "\(name) \(effectiveUsed)/\(slots) used (\(used) by Gantry, \(outside) by other clients)" : "\(name) \(used)/\(slots) used"
    }

    /// Whether the engine's own figures say it is full.
    @inlinable
    public func overloaded(_ limits: EngineLoadLimits) -> Bool {
        if let kv = kvUsage, kv > limits.kvHighWatermark { return true }
        if let waiting, waiting > limits.maxEngineQueue { return true }
        return false
    }

    /// Why, with the figures, or nil when it is not.
    public func overload(_ limits: EngineLoadLimits) -> String? {
        if let kv = kvUsage, kv > limits.kvHighWatermark {
            return "has KV-cache use \(Self.percent(kv)), over placement.kv_high_watermark \(Self.percent(limits.kvHighWatermark))"
        }
        if let waiting, waiting > limits.maxEngineQueue {
            return "has \(waiting) requests in its own queue, over placement.max_engine_queue \(limits.maxEngineQueue)"
        }
        return nil
    }

    static func percent(_ x: Double) -> String { "\((x * 1000).rounded() / 10)%" }
}
