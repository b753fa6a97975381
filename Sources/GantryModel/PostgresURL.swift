/// Where a PostgreSQL store is: `postgres://USER@HOST[:PORT]/DATABASE` (or `postgresql://`).
/// The password never goes in it (a config file is often readable by more than its owner):
/// it comes from a file of its own.
public struct PostgresURL: Hashable, Sendable, CustomStringConvertible {
    public var user: String
    public var host: String
    public var port: Int
    public var database: String

    public init(user: String, host: String, port: Int = 5432, database: String) {
        self.user = user
        self.host = host
        self.port = port
        self.database = database
    }

    public init(parsing text: String) throws(GantryError) {
        func fail(_ why: String) -> GantryError {
            GantryError(.badRequest, "'\(text)' is not a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE): \(why)")
        }
        var rest = Substring(text)
        if rest.hasPrefix("postgres://") {
            rest = rest.dropFirst("postgres://".count)
        } else if rest.hasPrefix("postgresql://") {
            rest = rest.dropFirst("postgresql://".count)
        } else {
            throw fail("it must start with postgres://")
        }
        guard let at = rest.firstIndex(of: "@") else { throw fail("no user (USER@HOST)") }
        let userPart = rest[..<at]
        if userPart.contains(":") { throw fail("it holds a password; put the password in password_file instead") }
        guard !userPart.isEmpty else { throw fail("no user (USER@HOST)") }
        rest = rest[rest.index(after: at)...]
        guard let slash = rest.firstIndex(of: "/") else { throw fail("no database (HOST/DATABASE)") }
        let hostPort = rest[..<slash]
        var database = rest[rest.index(after: slash)...]
        if let q = database.firstIndex(of: "?") { database = database[..<q] }
        guard !database.isEmpty else { throw fail("no database (HOST/DATABASE)") }
        var host = hostPort
        var port = 5432
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            guard let p = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(p) else { throw fail("the port is not 1-65535") }
            port = p
            host = hostPort[..<colon]
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { throw fail("no host") }
        self.init(user: String(userPart), host: String(host), port: port, database: String(database))
    }

    public var description: String {
        "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
    }
}
