import GantryModel

/// A config error naming the file, line and key.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads typed values out of a TOML table, remembering which keys were used so that
/// unknown keys (typos) are errors rather than silently ignored settings.
struct TableReader {
    let table: TOMLTable
    let path: String
    let file: String
    private(set) var used: Set<String> = []

    init(_ table: TOMLTable, path: String = "", file: String) {
        self.table = table
        self.path = path
        self.file = file
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func location(_ key: String) -> String {
        if let line = table.lines[key] { return "\(file):\(line)" }
        return file
    }

    func fail(_ key: String, _ message: String) -> ConfigError {
        ConfigError("\(location(key)): \(name(key)): \(message)")
    }

    private mutating func value(_ key: String) -> TOMLValue? {
        used.insert(key)
        return table[key]
    }

    mutating func string(_ key: String) throws(ConfigError) -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw fail(key, "expected a string, found \(describe(v))") }
        return s
    }

    mutating func integer(_ key: String, in range: ClosedRange<Int64>? = nil) throws(ConfigError) -> Int64? {
        guard let v = value(key) else { return nil }
        guard case .integer(let n) = v else { throw fail(key, "expected an integer, found \(describe(v))") }
        if let range, !range.contains(n) { throw fail(key, "\(n) is out of range \(range.lowerBound)...\(range.upperBound)") }
        return n
    }

    mutating func int(_ key: String, in range: ClosedRange<Int64>? = nil) throws(ConfigError) -> Int? {
        try integer(key, in: range).map { Int($0) }
    }

    /// A number: integers are accepted where a float is wanted.
    mutating func number(_ key: String, in range: ClosedRange<Double>? = nil) throws(ConfigError) -> Double? {
        guard let v = value(key) else { return nil }
        let d: Double
        switch v {
        case .integer(let n): d = Double(n)
        case .float(let x): d = x
        default: throw fail(key, "expected a number, found \(describe(v))")
        }
        guard d.isFinite else { throw fail(key, "expected a finite number") }
        if let range, !range.contains(d) { throw fail(key, "\(d) is out of range \(range.lowerBound)...\(range.upperBound)") }
        return d
    }

    mutating func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .boolean(let b) = v else { throw fail(key, "expected true or false, found \(describe(v))") }
        return b
    }

    mutating func strings(_ key: String) throws(ConfigError) -> [String]? {
        guard let v = value(key) else { return nil }
        guard case .array(let items) = v else { throw fail(key, "expected an array of strings, found \(describe(v))") }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else { throw fail(key, "expected an array of strings, found an element that is \(describe(item))") }
            out.append(s)
        }
        return out
    }

    /// A duration: an integer number of milliseconds, or a string like "30s", "7d".
    mutating func durationMillis(_ key: String) throws(ConfigError) -> Int64? {
        guard let v = value(key) else { return nil }
        switch v {
        case .integer(let n) where n >= 0: return n
        case .string(let s):
            guard let ms = parseDurationMillis(s) else {
                throw fail(key, "'\(s)' is not a duration (use e.g. 500ms, 30s, 5m, 12h, 7d)")
            }
            return ms
        default: throw fail(key, "expected a duration like \"7d\", found \(describe(v))")
        }
    }

    mutating func hostPort(_ key: String) throws(ConfigError) -> HostPort? {
        guard let s = try string(key) else { return nil }
        do {
            return try HostPort(parsing: s)
        } catch {
            throw fail(key, error.message)
        }
    }

    mutating func table(_ key: String) throws(ConfigError) -> TableReader? {
        guard let v = value(key) else { return nil }
        guard case .table(let t) = v else { throw fail(key, "expected a table, found \(describe(v))") }
        return TableReader(t, path: name(key), file: file)
    }

    mutating func tables(_ key: String) throws(ConfigError) -> [TableReader] {
        guard let v = value(key) else { return [] }
        guard case .array(let items) = v else { throw fail(key, "expected [[\(name(key))]] tables, found \(describe(v))") }
        var out: [TableReader] = []
        for (n, item) in items.enumerated() {
            guard case .table(let t) = item else { throw fail(key, "expected [[\(name(key))]] tables, found \(describe(item))") }
            out.append(TableReader(t, path: "\(name(key))[\(n)]", file: file))
        }
        return out
    }

    /// Fails on the first key that was never read, suggesting a close known key.
    func rejectUnknownKeys(known: [String]) throws(ConfigError) {
        for key in table.keys where !used.contains(key) {
            var message = "unknown key"
            if let guess = closest(key, in: known) { message += " (did you mean '\(name(guess))'?)" }
            throw fail(key, message)
        }
    }

    private func describe(_ v: TOMLValue) -> String {
        switch v {
        case .string(let s): "string \"\(s.prefix(40))\""
        case .integer(let n): "integer \(n)"
        case .float(let d): "float \(d)"
        case .boolean(let b): "boolean \(b)"
        case .array: "an array"
        case .table: "a table"
        }
    }
}


/// Edit distance based suggestion, for typos like `lsiten`.
func closest(_ key: String, in known: [String]) -> String? {
    func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var prev = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return a.isEmpty ? b.count : prev[b.count]
    }
    let scored = known.map { ($0, distance(Array(key.utf8), Array($0.utf8))) }.filter { $0.1 <= max(2, key.count / 3) }
    return scored.min { $0.1 < $1.1 }?.0
}
