public import GantryModel
import NIOConcurrencyHelpers

/// Where an agent keeps attempt results until the coordinator acknowledges them.
public protocol ResultSpool: Sendable {
    /// Every result still held (at start-up).
    func load() throws -> [AttemptResult]
    /// Stores results durably, all at once, before they are sent.
    func write(_ results: [AttemptResult]) throws
    /// Drops an acknowledged result.
    func remove(_ ref: AttemptRef) throws
    /// Writes down what `remove` noted and kept back, if anything (called every quarter
    /// of a heartbeat interval, and at shutdown).
    func flush()
}

extension ResultSpool {
    public func flush() {}
}

/// A spool that lives only as long as the process.
public final class MemorySpool: ResultSpool {
    private let results = NIOLockedValueBox<[AttemptRef: AttemptResult]>([:])

    public init() {}

    public func load() throws -> [AttemptResult] { results.withLockedValue { Array($0.values) } }
    public func write(_ results: [AttemptResult]) throws {
        self.results.withLockedValue { for r in results { $0[r.ref] = r } }
    }
    public func remove(_ ref: AttemptRef) throws { _ = results.withLockedValue { $0.removeValue(forKey: ref) } }
}
