/// One engine of one node.
public struct EngineRef: Hashable, Sendable {
    public var node: NodeID
    public var engine: String

    public init(node: NodeID, engine: String) {
        self.node = node
        self.engine = engine
    }
}
