/// A parsed TOML value. Tables remember the line each key was defined on, so config
/// errors can point at it.
public indirect enum TOMLValue: Hashable, Sendable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    case array([TOMLValue])
    case table(TOMLTable)

    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .array: "array"
        case .table: "table"
        }
    }
}

public struct TOMLTable: Hashable, Sendable {
    public private(set) var keys: [String] = []
    public private(set) var values: [String: TOMLValue] = [:]
    /// The line (1-based) where each key was defined.
    public private(set) var lines: [String: Int] = [:]
    /// Defined by a `[header]` (as opposed to implicitly by a dotted key or a parent header).
    var explicitlyDefined = false
    /// Defined inline (`{…}`); such tables are closed to later additions.
    var inline = false

    public init() {}

    public subscript(key: String) -> TOMLValue? { values[key] }

    mutating func set(_ key: String, _ value: TOMLValue, line: Int) {
        if values[key] == nil { keys.append(key) }
        values[key] = value
        if lines[key] == nil { lines[key] = line }
    }
}

/// A TOML syntax error at a line and column.
public struct TOMLError: Error, Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "line \(line), column \(column): \(message)" }
}
