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

    /// Sets a boxed value; the default value is stored as no box at all.
    @inlinable
    public mutating func rebox<V>(_ value: V, empty: V) where Wrapped == Boxed<V> {
        if let current = self?.value ?? (value == empty ? empty : nil), current == value { return }
        self = value == empty ? nil : Boxed(value)
    }
}
