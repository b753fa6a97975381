/// A node's stable identity: the agent's configured `node_id`, by default the host name.
///
/// Valid ids are 1...63 bytes of `[A-Za-z0-9._-]`, starting with a letter or digit, so
/// they are safe in file names, metric labels and log fields.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init?(_ rawValue: String) {
        guard NodeID.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    public static func isValid(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func ok(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == 0x2E || b == 0x5F || b == 0x2D
        }
        guard bytes.allSatisfy(ok) else { return false }
        return bytes[0] != 0x2E && bytes[0] != 0x5F && bytes[0] != 0x2D
    }

    public var description: String { rawValue }
    public static func < (a: NodeID, b: NodeID) -> Bool { a.rawValue < b.rawValue }
}

/// A job's identity: 64 bits, the submit time in milliseconds in the high 44 bits and a
/// per-millisecond counter in the low 20, so ids sort by submission and never repeat
/// across coordinator restarts (even after the state directory is wiped).
///
/// Its text form is 13 characters of lower-case Crockford base32, e.g. `01jd8x3kq4m2g`.
public struct JobID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(unixMillis: Int64, counter: UInt32) {
        self.rawValue = (UInt64(max(0, unixMillis)) << JobID.counterBits) | UInt64(counter & JobID.counterMask)
    }

    public static let counterBits: UInt64 = 20
    public static let counterMask: UInt32 = (1 << 20) - 1

    public var unixMillis: Int64 { Int64(rawValue >> JobID.counterBits) }
    public var counter: UInt32 { UInt32(rawValue & UInt64(JobID.counterMask)) }

    /// Crockford's base 32, lower case: 13 characters, with no allocation either way (the
    /// text fits a small string); ids cross the wire as text in every job message.
    public var description: String {
        String(unsafeUninitializedCapacity: 13) { out in
            var v = rawValue
            for i in stride(from: 12, through: 0, by: -1) {
                out[i] = JobID.digit(UInt8(truncatingIfNeeded: v & 31))
                v >>= 5
            }
            return 13
        }
    }

    /// Parses the 13-character text form; accepts upper case and Crockford's
    /// look-alikes (`o`→0, `i`/`l`→1).
    public init?(_ text: String) {
        var text = text
        guard let value = text.withUTF8(JobID.parse) else { return nil }
        self.rawValue = value
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard bytes.count == 13 else { return nil }
        var v: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            guard let d = value(of: b) else { return nil }
            // The first character carries only 4 bits (13 × 5 = 65).
            if i == 0 && d > 15 { return nil }
            v = (v << 5) | UInt64(d)
        }
        return v
    }

    /// "0123456789abcdefghjkmnpqrstvwxyz"[d].
    private static func digit(_ d: UInt8) -> UInt8 {
        switch d {
        case 0...9: return UInt8(ascii: "0") + d
        case 10...17: return UInt8(ascii: "a") + d - 10  // a…h
        case 18...19: return UInt8(ascii: "j") + d - 18  // j k
        case 20...21: return UInt8(ascii: "m") + d - 20  // m n
        case 22...26: return UInt8(ascii: "p") + d - 22  // p…t
        default: return UInt8(ascii: "v") + d - 27  // v…z
        }
    }

    private static func value(of byte: UInt8) -> UInt8? {
        var b = byte
        if b >= 0x41 && b <= 0x5A { b += 0x20 }
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "o"): return 0
        case UInt8(ascii: "i"), UInt8(ascii: "l"): return 1
        case UInt8(ascii: "a")...UInt8(ascii: "h"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "j"), UInt8(ascii: "k"): return b - UInt8(ascii: "j") + 18
        case UInt8(ascii: "m"), UInt8(ascii: "n"): return b - UInt8(ascii: "m") + 20
        case UInt8(ascii: "p")...UInt8(ascii: "t"): return b - UInt8(ascii: "p") + 22
        case UInt8(ascii: "v")...UInt8(ascii: "z"): return b - UInt8(ascii: "v") + 27
        default: return nil
        }
    }

    public static func < (a: JobID, b: JobID) -> Bool { a.rawValue < b.rawValue }
}

/// Hands out strictly increasing job ids from a clock reading the caller supplies.
public struct JobIDGenerator: Sendable {
    public private(set) var last: JobID

    public init(after last: JobID = JobID(rawValue: 0)) { self.last = last }

    public mutating func next(now: Timestamp) -> JobID {
        let candidate = JobID(unixMillis: now.unixMillis, counter: 0)
        let id = candidate > last ? candidate : JobID(rawValue: last.rawValue &+ 1)
        last = id
        return id
    }
}

/// One connection on the coordinator, unique for the life of the process.
public struct SessionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { "s\(rawValue)" }
}
