import GantrySQL
import GRDB
import GRDBSQLite

extension Statement {
    /// Runs this statement once for each row of values, bound straight through SQLite's C
    /// API. GRDB's `StatementArguments` converts every value through a generic, key-path
    /// path and then binds it again: a fifth of gantryd's CPU at 5,000 submits a second.
    /// Call it inside a write, on the database's queue; a failed step throws SQLite's error
    /// (the transaction then rolls back, and gantryd stops: see `Coordinator.storeFailed`).
    /// For an update (`updateKey`: how many values end each row as its key), a row that
    /// changes no row of the table throws: the caller knew the row to exist.
    func execute(rows: [[SQLValue]], in db: Database, updateKey: Int = 0) throws {
        let statement = sqliteStatement
        let expected = Int(sqlite3_bind_parameter_count(statement))
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)  // No copies of this batch's text kept bound.
        }
        for row in rows {
            guard row.count == expected else {
                throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "\(row.count) values for \(expected) parameters", sql: sql)
            }
            sqlite3_reset(statement)
            for (i, value) in zip(Int32(1)..., row) { Self.bind(value, at: i, to: statement) }
            let code = sqlite3_step(statement)
            guard code == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
            }
            if updateKey > 0, sqlite3_changes(db.sqliteConnection) != 1 {
                let key = row.suffix(updateKey).map { $0.int64OrNil.map(String.init) ?? "\($0)" }.joined(separator: ", ")
                throw DatabaseError(resultCode: .SQLITE_NOTFOUND, message: "no row with key (\(key)) to update: the store lacks what gantryd wrote before", sql: sql)
            }
        }
    }

    /// SQLite copies text and blobs bound this way (`SQLITE_TRANSIENT`).
    private static let transient = unsafeBitCast(Int(-1), to: sqlite3_destructor_type.self)

    private static func bind(_ value: SQLValue, at i: Int32, to statement: SQLiteStatement) {
        // Binding a valid index with a valid value cannot fail but for SQLITE_NOMEM, which
        // then surfaces at the step.
        switch value {
        case .null: sqlite3_bind_null(statement, i)
        case .integer(let v): sqlite3_bind_int64(statement, i, v)
        case .real(let d): sqlite3_bind_double(statement, i, d)
        case .text(var s):
            s.withUTF8 { utf8 in
                // An empty buffer may have no address, which SQLite would bind as NULL.
                if let base = utf8.baseAddress, !utf8.isEmpty {
                    sqlite3_bind_text(statement, i, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(utf8.count), transient)
                } else {
                    sqlite3_bind_text(statement, i, "", 0, transient)
                }
            }
        case .blob(let b):
            b.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress, !bytes.isEmpty {
                    sqlite3_bind_blob(statement, i, base, Int32(bytes.count), transient)
                } else {
                    sqlite3_bind_zeroblob(statement, i, 0)
                }
            }
        }
    }
}
