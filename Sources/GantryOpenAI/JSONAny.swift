import Foundation

/// Any JSON value, decoded with its exact type (a `true` is never the number 1, nor 1 a
/// boolean, as they can be through `NSNumber`), and written back as JSON text.
enum JSONAny: Decodable, Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONAny])
    case object([String: JSONAny], keys: [String])

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            var values: [String: JSONAny] = [:]
            var keys: [String] = []
            for key in object.allKeys {
                values[key.stringValue] = try object.decode(JSONAny.self, forKey: key)
                keys.append(key.stringValue)
            }
            self = .object(values, keys: keys)
            return
        }
        if var array = try? decoder.unkeyedContainer() {
            var values: [JSONAny] = []
            while !array.isAtEnd { values.append(try array.decode(JSONAny.self)) }
            self = .array(values)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let b = try? single.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? single.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? single.decode(Double.self) {
            self = .double(d)
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    static func parse(_ bytes: [UInt8]) throws -> JSONAny {
        try JSONDecoder().decode(JSONAny.self, from: Data(bytes))
    }

    subscript(key: String) -> JSONAny? {
        if case .object(let o, _) = self { return o[key] }
        return nil
    }

    var isNull: Bool { self == .null }

    /// Whether a field is set to something other than null, false, 0, "" or [].
    var isSet: Bool {
        switch self {
        case .null: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s): !s.isEmpty
        case .array(let a): !a.isEmpty
        case .object: true
        }
    }

    var text: String {
        var s = ""
        write(into: &s)
        return s
    }

    func write(into s: inout String) {
        switch self {
        case .null: s += "null"
        case .bool(let b): s += b ? "true" : "false"
        case .int(let i): s += String(i)
        case .double(let d): s += d.isFinite ? String(d) : "null"
        case .string(let v): JSONText.string(v, into: &s)
        case .array(let a):
            s += "["
            for (i, v) in a.enumerated() {
                if i > 0 { s += "," }
                v.write(into: &s)
            }
            s += "]"
        case .object(let o, let keys):
            s += "{"
            for (i, k) in keys.enumerated() {
                if i > 0 { s += "," }
                JSONText.string(k, into: &s)
                s += ":"
                o[k]!.write(into: &s)
            }
            s += "}"
        }
    }
}
