/// A value bound to or read from SQL, whatever the database: both backends (SQLite and
/// PostgreSQL) store integers, booleans (as 0/1), times (Unix milliseconds), text and bytes,
/// so one mapping of Gantry's values serves both.
public enum SQLValue: Hashable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public init(_ v: Int) { self = .integer(Int64(v)) }
    public init(_ v: Int64) { self = .integer(v) }
    public init(_ v: Bool) { self = .integer(v ? 1 : 0) }
    public init(_ v: String) { self = .text(v) }
    public init(_ v: Int?) { self = v.map { .integer(Int64($0)) } ?? .null }
    public init(_ v: Int64?) { self = v.map { .integer($0) } ?? .null }
    public init(_ v: String?) { self = v.map { .text($0) } ?? .null }
    public init(_ v: Double?) { self = v.map { .real($0) } ?? .null }

    /// As an integer: nil for NULL, 0 for what is not a number.
    public var int64OrNil: Int64? {
        switch self {
        case .null: nil
        case .integer(let v): v
        case .real(let d): Int64(d)
        case .text(let s): Int64(s) ?? 0
        case .blob: 0
        }
    }

    public var doubleOrNil: Double? {
        switch self {
        case .real(let d): d
        case .integer(let v): Double(v)
        default: nil
        }
    }

    public var stringOrNil: String? {
        switch self {
        case .text(let s): s
        case .blob(let b): String(decoding: b, as: UTF8.self)
        default: nil
        }
    }
}

/// A result row, read by position (the statements name their columns, in order).
public protocol SQLRow {
    subscript(_ column: Int) -> SQLValue { get }
    /// The typed reads below have defaults through `subscript`; a backend may read the
    /// column straight as the type instead (a restart reads tens of millions of columns).
    func int64OrNil(_ i: Int) -> Int64?
    func stringOrNil(_ i: Int) -> String?
    func double(_ i: Int) -> Double?
}

extension SQLRow {
    public func int64(_ i: Int) -> Int64 { int64OrNil(i) ?? 0 }
    public func int64OrNil(_ i: Int) -> Int64? { self[i].int64OrNil }
    public func int(_ i: Int) -> Int { Int(int64(i)) }
    public func bool(_ i: Int) -> Bool { int64(i) != 0 }

    public func double(_ i: Int) -> Double? { self[i].doubleOrNil }
    public func string(_ i: Int) -> String { stringOrNil(i) ?? "" }
    public func stringOrNil(_ i: Int) -> String? { self[i].stringOrNil }

    public func bytes(_ i: Int) -> [UInt8] {
        switch self[i] {
        case .blob(let b): b
        case .text(let s): Array(s.utf8)
        default: []
        }
    }
}

/// A row held as values (what the PostgreSQL backend reads rows into).
public struct ValuesRow: SQLRow, Sendable {
    public var values: [SQLValue]
    public init(_ values: [SQLValue]) { self.values = values }
    public subscript(_ column: Int) -> SQLValue { column < values.count ? values[column] : .null }
}

/// A statement with `?` placeholders and its arguments.
public struct SQLStatement: Hashable, Sendable {
    public var sql: String
    public var arguments: [SQLValue]

    public init(_ sql: String, _ arguments: [SQLValue] = []) {
        self.sql = sql
        self.arguments = arguments
    }
}

/// Many rows for one `INSERT … VALUES (…) <suffix>`: SQLite runs it row by row with one
/// prepared statement, PostgreSQL as multi-row inserts.
public struct SQLInsert: Hashable, Sendable {
    /// `INSERT INTO table (a, b, …)`.
    public var head: String
    /// What follows the values (`ON CONFLICT …`), or "".
    public var tail: String
    public var columns: Int
    public var rows: [[SQLValue]]

    /// The statement for one row, with `?` placeholders.
    public var oneRow: String {
        head + " VALUES (" + Array(repeating: "?", count: columns).joined(separator: ", ") + ") " + tail
    }

    /// PostgreSQL: `rows` rows at once, `$1`… numbered in row order.
    public func manyRows(_ rows: Int) -> String {
        head + " VALUES " + numberedValues(rows: rows, columns: columns) + " " + tail
    }
}

/// `($1, $2), ($3, $4)…`: `rows` rows of one placeholder per column, numbered in row order,
/// each cast to its column's type where `types` gives one (a `VALUES` list in `FROM` has
/// no column to infer it from).
func numberedValues(rows: Int, columns: Int, types: [String]? = nil) -> String {
    var sql = ""
    var n = 0
    for r in 0..<rows {
        sql += r == 0 ? "(" : ", ("
        for c in 0..<columns {
            n += 1
            sql += (c == 0 ? "$" : ", $") + "\(n)"
            if let types { sql += "::" + types[c] }
        }
        sql += ")"
    }
    return sql
}
