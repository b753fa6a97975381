import Foundation
import GantrySQL
import GRDB

/// GRDB's rows and arguments in the shared SQL mapping's terms.
struct GRDBRow: SQLRow {
    let row: Row
    init(_ row: Row) { self.row = row }

    subscript(_ column: Int) -> SQLValue {
        let value: DatabaseValue = row[column]
        switch value.storage {
        case .null: return .null
        case .int64(let v): return .integer(v)
        case .double(let d): return .real(d)
        case .string(let s): return .text(s)
        case .blob(let b): return .blob(Array(b))
        }
    }

    // A row read through a cursor is read straight from the statement's column, as SQLite
    // converts it (no `DatabaseValue`, no generic decoding: half of a restart's reading
    // time was that); a copied row whose value does not convert falls back to `SQLValue`'s
    // rules rather than GRDB's fatal error.
    func int64OrNil(_ column: Int) -> Int64? {
        do { return try row.decode(Int64?.self, atIndex: column) } catch { return self[column].int64OrNil }
    }

    func stringOrNil(_ column: Int) -> String? {
        do { return try row.decode(String?.self, atIndex: column) } catch { return self[column].stringOrNil }
    }

    func double(_ column: Int) -> Double? {
        do { return try row.decode(Double?.self, atIndex: column) } catch { return self[column].doubleOrNil }
    }
}

extension SQLValue {
    var databaseValue: DatabaseValue {
        switch self {
        case .null: .null
        case .integer(let v): v.databaseValue
        case .real(let d): d.databaseValue
        case .text(let s): s.databaseValue
        case .blob(let b): Data(b).databaseValue
        }
    }
}

extension [SQLValue] {
    var arguments: StatementArguments { StatementArguments(map(\.databaseValue)) }
}

extension Database {
    /// Runs a statement of the shared mapping and reads every row.
    func rows(_ statement: SQLStatement) throws -> [GRDBRow] {
        try Row.fetchAll(self, sql: statement.sql, arguments: statement.arguments.arguments).map(GRDBRow.init)
    }

    /// Reads rows one by one (a cursor: no array of them all).
    func forEachRow(_ statement: SQLStatement, _ body: (GRDBRow) throws -> Void) throws {
        let cursor = try Row.fetchCursor(self, sql: statement.sql, arguments: statement.arguments.arguments)
        while let row = try cursor.next() { try body(GRDBRow(row)) }
    }
}
