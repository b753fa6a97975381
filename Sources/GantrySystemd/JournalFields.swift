/// A structured journal entry: journald's field names (upper case, digits and `_`) and
/// values. Ours are MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and GANTRY_*.
public struct JournalEntry: Hashable, Sendable {
    public var fields: [(name: String, value: String)]

    public init(fields: [(name: String, value: String)]) { self.fields = fields }

    public static func == (a: JournalEntry, b: JournalEntry) -> Bool {
        a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        for f in fields {
            hasher.combine(f.name)
            hasher.combine(f.value)
        }
    }

    /// A metadata key as a journal field: `job.id` → `GANTRY_JOB_ID`, `model` → `GANTRY_MODEL`.
    public static func fieldName(forMetadataKey key: String) -> String {
        var name = "GANTRY_"
        for u in key.unicodeScalars {
            switch u {
            case "a"..."z": name.unicodeScalars.append(Unicode.Scalar(u.value - 32)!)
            case "A"..."Z", "0"..."9": name.unicodeScalars.append(u)
            default: name += "_"
            }
        }
        return String(name.prefix(64))
    }

    /// Known keys whose field names operators search by.
    public static let aliases: [String: String] = [
        "job.model": "GANTRY_MODEL", "job.tenant": "GANTRY_TENANT",
    ]

    /// journald's native protocol: `NAME=value\n`, or for values with a newline,
    /// `NAME\n` + little-endian 64-bit length + value + `\n`.
    public func nativeDatagram() -> [UInt8] {
        var out: [UInt8] = []
        for f in fields {
            let value = Array(f.value.utf8)
            out += Array(f.name.utf8)
            if value.contains(0x0A) {
                out.append(0x0A)
                var length = UInt64(value.count).littleEndian
                withUnsafeBytes(of: &length) { out += $0 }
                out += value
            } else {
                out.append(UInt8(ascii: "="))
                out += value
            }
            out.append(0x0A)
        }
        return out
    }

    /// Parses the native protocol (for tests and tools).
    public init?(nativeDatagram bytes: [UInt8]) {
        var fields: [(String, String)] = []
        var i = 0
        while i < bytes.count {
            guard let end = bytes[i...].firstIndex(where: { $0 == 0x0A || $0 == UInt8(ascii: "=") }) else { return nil }
            let name = String(decoding: bytes[i..<end], as: UTF8.self)
            if bytes[end] == UInt8(ascii: "=") {
                guard let nl = bytes[(end + 1)...].firstIndex(of: 0x0A) else { return nil }
                fields.append((name, String(decoding: bytes[(end + 1)..<nl], as: UTF8.self)))
                i = nl + 1
            } else {
                guard end + 9 <= bytes.count else { return nil }
                var length: UInt64 = 0
                for k in 0..<8 { length |= UInt64(bytes[end + 1 + k]) << (8 * UInt64(k)) }
                let start = end + 9
                guard start + Int(length) < bytes.count || start + Int(length) == bytes.count - 1 else { return nil }
                fields.append((name, String(decoding: bytes[start..<(start + Int(length))], as: UTF8.self)))
                i = start + Int(length) + 1
            }
        }
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }
}
