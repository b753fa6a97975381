public import GantryModel
import NIOConcurrencyHelpers

/// Where an agent keeps attempt results until the coordinator acknowledges them.
public protocol ResultSpool: Sendable {
    /// Every result still held (at start-up).
    func load() throws -> [AttemptResult]
    /// Stores a result durably before it is sent.
    func write(_ result: AttemptResult) throws
    /// Drops an acknowledged result.
    func remove(_ ref: AttemptRef) throws
}

/// A spool that lives only as long as the process.
public final class MemorySpool: ResultSpool {
    private let results = NIOLockedValueBox<[AttemptRef: AttemptResult]>([:])

    public init() {}

    public func load() throws -> [AttemptResult] { results.withLockedValue { Array($0.values) } }
    public func write(_ result: AttemptResult) throws { results.withLockedValue { $0[result.ref] = result } }
    public func remove(_ ref: AttemptRef) throws { _ = results.withLockedValue { $0.removeValue(forKey: ref) } }
}
