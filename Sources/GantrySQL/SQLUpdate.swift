/// Many rows for one `UPDATE table SET a = ?, b = ? WHERE key = ?`, each row the new values
/// and then the key's: SQLite runs it row by row with one prepared statement, PostgreSQL
/// as one `UPDATE … FROM (VALUES …)` per thousand rows. Every row must match exactly one
/// row of the table; a row that matches none fails the write (the caller said it exists).
public struct SQLUpdate: Hashable, Sendable {
    public struct Column: Hashable, Sendable {
        public var name: String
        /// PostgreSQL's type of the column (a `VALUES` list needs its parameters typed).
        public var type: String

        public init(_ name: String, _ type: String) {
            self.name = name
            self.type = type
        }
    }

    public var table: String
    public var set: [Column]
    public var key: [Column]
    public var rows: [[SQLValue]]

    public init(table: String, set: [Column], key: [Column], rows: [[SQLValue]] = []) {
        self.table = table
        self.set = set
        self.key = key
        self.rows = rows
    }

    public var columns: Int { self.set.count + key.count }

    /// The statement for one row, with `?` placeholders.
    public var oneRow: String {
        "UPDATE \(table) SET " + set.map { "\($0.name) = ?" }.joined(separator: ", ")
            + " WHERE " + key.map { "\($0.name) = ?" }.joined(separator: " AND ")
    }

    /// PostgreSQL: `rows` rows at once, `$1`… numbered in row order; one row comes back
    /// (`RETURNING 1`) for each table row updated.
    public func manyRows(_ rows: Int) -> String {
        let all = self.set + key
        return "UPDATE \(table) AS t SET " + self.set.map { "\($0.name) = v.\($0.name)" }.joined(separator: ", ")
            + " FROM (VALUES " + numberedValues(rows: rows, columns: all.count, types: all.map(\.type)) + ") AS v("
            + all.map(\.name).joined(separator: ", ") + ") WHERE "
            + key.map { "t.\($0.name) = v.\($0.name)" }.joined(separator: " AND ") + " RETURNING 1"
    }
}

/// One step of a commit: rows inserted (or upserted), or rows known to exist updated.
public enum SQLWrite: Hashable, Sendable {
    case insert(SQLInsert)
    case update(SQLUpdate)
}
