/// A value kept out of line: an optional `Boxed` costs 8 bytes where the value would cost
/// its whole size, for fields most values leave empty (the coordinator holds a million
/// jobs). Immutable; equal and hashed by its value.
public final class Boxed<Value: Hashable & Sendable>: Hashable, Sendable {
    public let value: Value

    public init(_ value: Value) { self.value = value }

    public static func == (a: Boxed, b: Boxed) -> Bool { a === b || a.value == b.value }
    public func hash(into hasher: inout Hasher) { hasher.combine(value) }
}

extension Optional {
    /// Reads a boxed value, or `empty` when there is none.
    @inlinable
    public func unboxed<V>(or empty: V) -> V where Wrapped == Boxed<V> { self?.value ?? empty }

    /// Changes the boxed value (`empty` when there is none); the empty value is stored as
    /// no box at all, and an unchanged one keeps its box.
    @inlinable
    public mutating func update<V>(empty: V, _ change: (inout V) -> Void) where Wrapped == Boxed<V> {
        let old = self?.value ?? empty
        var value = old
        change(&value)
        if value == old { return }
        self = value == empty ? nil : Boxed(value)
    }
}
