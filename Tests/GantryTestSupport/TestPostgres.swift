import Foundation

/// The throwaway PostgreSQL server scripts/test starts (scripts/lib/postgres.sh): its URL
/// and password file come in the environment. Tests that need it skip without it, unless
/// scripts/test requires it (GANTRY_REQUIRE_POSTGRES=1), where they fail.
public enum TestPostgres {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// postgres://gantry@127.0.0.1:PORT/gantry
    public static var url: String? { environment["GANTRY_TEST_POSTGRES_URL"] }
    public static var passwordFile: String? { environment["GANTRY_TEST_POSTGRES_PASSWORD_FILE"] }
    public static var password: String? {
        passwordFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static var required: Bool { environment["GANTRY_REQUIRE_POSTGRES"] == "1" }
    public static var enabled: Bool { url != nil || required }

    /// A new, empty database on the test server (each test gets its own); its URL.
    public static func freshDatabase() throws -> String {
        guard let url, let password else {
            throw TestPostgresError("no test PostgreSQL server: run scripts/test, which starts one (GANTRY_TEST_POSTGRES_URL)")
        }
        let name = "gantry_test_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        let psql = Process()
        psql.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        psql.arguments = [url, "-q", "-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE \(name)"]
        psql.environment = environment.merging(["PGPASSWORD": password]) { _, new in new }
        let errors = Pipe()
        psql.standardError = errors
        try psql.run()
        psql.waitUntilExit()
        guard psql.terminationStatus == 0 else {
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw TestPostgresError("psql could not create a test database: \(text)")
        }
        return url.replacingOccurrences(of: #"/[^/]*$"#, with: "/\(name)", options: .regularExpression)
    }
}

public struct TestPostgresError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
