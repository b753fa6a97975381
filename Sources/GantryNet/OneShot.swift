import NIOConcurrencyHelpers

/// A value set once and awaited by anyone (e.g. the address a listener bound, which
/// tests and start-up code wait for).
public final class OneShot<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiters: [CheckedContinuation<Value, any Error>] = []
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public func succeed(_ value: Value) { complete(.success(value)) }
    public func fail(_ error: any Error) { complete(.failure(error)) }

    private func complete(_ result: Result<Value, any Error>) {
        let waiters: [CheckedContinuation<Value, any Error>] = state.withLockedValue { s in
            guard s.result == nil else { return [] }
            s.result = result
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(with: result) }
    }

    public var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { c in
                let done: Result<Value, any Error>? = state.withLockedValue { s in
                    if let r = s.result { return r }
                    s.waiters.append(c)
                    return nil
                }
                if let done { c.resume(with: done) }
            }
        }
    }
}
