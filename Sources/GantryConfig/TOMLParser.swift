/// A TOML 1.0 parser, enough of the spec for configuration files: comments, bare, quoted
/// and dotted keys, `[tables]`, `[[arrays of tables]]`, basic/literal/multi-line strings,
/// integers (with `_`, hex, octal, binary), floats, booleans, arrays and inline tables.
/// Date-time values are refused with a clear error (no Gantry key takes one).
///
/// No TOML package resolves from the offline mirror (TOMLKit needs a dependency that is
/// not mirrored), so this small, strictly-tested parser lives here.
public enum TOML {
    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var p = Parser(Array(text.utf8))
        try p.parseDocument()
        return p.root.freeze()
    }
}

private final class Node {
    enum Entry {
        case value(TOMLValue)
        case table(Node)
        case tableArray([Node])
    }

    var keys: [String] = []
    var entries: [String: Entry] = [:]
    var lines: [String: Int] = [:]
    var explicit = false
    var dotted = false
    var inline = false

    func set(_ key: String, _ entry: Entry, line: Int) {
        if entries[key] == nil { keys.append(key) }
        entries[key] = entry
        if lines[key] == nil { lines[key] = line }
    }

    func freeze() -> TOMLTable {
        var t = TOMLTable()
        for k in keys {
            let v: TOMLValue
            switch entries[k]! {
            case .value(let x): v = x
            case .table(let n): v = .table(n.freeze())
            case .tableArray(let ns): v = .array(ns.map { .table($0.freeze()) })
            }
            t.set(k, v, line: lines[k] ?? 0)
        }
        return t
    }
}

private struct Parser {
    let b: [UInt8]
    var i = 0
    var line = 1
    var lineStart = 0
    let root = Node()
    var current: Node

    init(_ bytes: [UInt8]) {
        self.b = bytes
        self.current = root
    }

    // MARK: errors and scanning

    func error(_ message: String) -> TOMLError {
        TOMLError(line: line, column: i - lineStart + 1, message: message)
    }

    var atEnd: Bool { i >= b.count }
    var peek: UInt8? { i < b.count ? b[i] : nil }

    func peek(_ offset: Int) -> UInt8? { i + offset < b.count ? b[i + offset] : nil }

    mutating func advance() {
        if b[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        i += 1
    }

    mutating func skipSpaces() {
        while let c = peek, c == 0x20 || c == 0x09 { i += 1 }
    }

    /// Skips a comment up to (not including) the newline; control characters are refused.
    mutating func skipComment() throws(TOMLError) {
        guard peek == UInt8(ascii: "#") else { return }
        while let c = peek, c != 0x0A {
            if (c < 0x20 && c != 0x09 && !(c == 0x0D && peek(1) == 0x0A)) || c == 0x7F { throw error("control character in a comment") }
            i += 1
        }
    }

    /// After a statement: spaces, an optional comment, then a newline or the end.
    mutating func expectLineEnd() throws(TOMLError) {
        skipSpaces()
        try skipComment()
        if atEnd { return }
        if peek == 0x0D && peek(1) == 0x0A { i += 1 }
        guard peek == 0x0A else {
            throw error("expected the end of the line, found '\(String(decoding: [b[i]], as: UTF8.self))'")
        }
        advance()
    }

    /// Skips blank lines, whitespace and comments (inside arrays).
    mutating func skipBlank() throws(TOMLError) {
        while let c = peek {
            if c == 0x20 || c == 0x09 || c == 0x0A {
                advance()
            } else if c == 0x0D && peek(1) == 0x0A {
                i += 1
            } else if c == UInt8(ascii: "#") {
                try skipComment()
            } else {
                return
            }
        }
    }

    // MARK: document

    mutating func parseDocument() throws(TOMLError) {
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        while true {
            try skipBlank()
            guard let c = peek else { return }
            if c == UInt8(ascii: "[") {
                if peek(1) == UInt8(ascii: "[") { try parseArrayTableHeader() } else { try parseTableHeader() }
            } else {
                try parseKeyValue(into: current)
            }
            try expectLineEnd()
        }
    }

    mutating func parseTableHeader() throws(TOMLError) {
        let headerLine = line
        i += 1
        skipSpaces()
        let path = try parseKey()
        skipSpaces()
        guard peek == UInt8(ascii: "]") else { throw error("expected ']' to close the table header") }
        i += 1
        var node = root
        for (n, key) in path.enumerated() {
            let last = n == path.count - 1
            switch node.entries[key] {
            case nil:
                let t = Node()
                node.set(key, .table(t), line: headerLine)
                node = t
                if last { t.explicit = true }
            case .table(let t):
                if last {
                    if t.explicit || t.dotted || t.inline { throw error("table [\(path.joined(separator: "."))] is defined more than once") }
                    t.explicit = true
                }
                if t.inline { throw error("cannot extend inline table \(key)") }
                node = t
            case .tableArray(let ts):
                if last { throw error("[\(path.joined(separator: "."))] is already an array of tables") }
                node = ts[ts.count - 1]
            case .value:
                throw error("key \(path[...n].joined(separator: ".")) is already a value, not a table")
            }
        }
        current = node
    }

    mutating func parseArrayTableHeader() throws(TOMLError) {
        let headerLine = line
        i += 2
        skipSpaces()
        let path = try parseKey()
        skipSpaces()
        guard peek == UInt8(ascii: "]"), peek(1) == UInt8(ascii: "]") else { throw error("expected ']]' to close the array-of-tables header") }
        i += 2
        var node = root
        for (n, key) in path.enumerated() {
            let last = n == path.count - 1
            switch node.entries[key] {
            case nil:
                let t = Node()
                t.explicit = last
                node.set(key, last ? .tableArray([t]) : .table(t), line: headerLine)
                node = t
            case .tableArray(var ts):
                if last {
                    let t = Node()
                    t.explicit = true
                    ts.append(t)
                    node.entries[key] = .tableArray(ts)
                    node = t
                } else {
                    node = ts[ts.count - 1]
                }
            case .table(let t):
                if last { throw error("[[\(path.joined(separator: "."))]] conflicts with the table of the same name") }
                if t.inline { throw error("cannot extend inline table \(key)") }
                node = t
            case .value:
                throw error("key \(path[...n].joined(separator: ".")) is already a value, not a table")
            }
        }
        current = node
    }

    mutating func parseKeyValue(into table: Node) throws(TOMLError) {
        let keyLine = line
        let path = try parseKey()
        skipSpaces()
        guard peek == UInt8(ascii: "=") else { throw error("expected '=' after key \(path.joined(separator: "."))") }
        i += 1
        skipSpaces()
        let value = try parseValue()
        var node = table
        for key in path.dropLast() {
            // Dotted keys may create tables, or extend ones that other dotted keys made;
            // they may not reach into a [header] table, an inline table or a value.
            switch node.entries[key] {
            case nil:
                let t = Node()
                t.dotted = true
                node.set(key, .table(t), line: keyLine)
                node = t
            case .table(let t) where t.dotted:
                node = t
            default:
                throw error("key \(path.joined(separator: ".")) conflicts with the earlier definition of \(key)")
            }
        }
        let last = path[path.count - 1]
        guard node.entries[last] == nil else { throw error("duplicate key \(path.joined(separator: "."))") }
        switch value {
        case .table(let t):
            let n = Node.from(t)
            node.set(last, .table(n), line: keyLine)
        default:
            node.set(last, .value(value), line: keyLine)
        }
    }

    /// A possibly dotted key: `a`, `"quoted key"`, `a.b."c"`.
    mutating func parseKey() throws(TOMLError) -> [String] {
        var parts: [String] = []
        while true {
            skipSpaces()
            guard let c = peek else { throw error("expected a key") }
            if c == UInt8(ascii: "\"") {
                if peek(1) == UInt8(ascii: "\""), peek(2) == UInt8(ascii: "\"") { throw error("multi-line strings cannot be keys") }
                parts.append(try parseBasicString())
            } else if c == UInt8(ascii: "'") {
                parts.append(try parseLiteralString())
            } else {
                let start = i
                while let c = peek, isBareKeyChar(c) { i += 1 }
                guard i > start else { throw error("expected a key, found '\(String(decoding: [c], as: UTF8.self))'") }
                parts.append(String(decoding: b[start..<i], as: UTF8.self))
            }
            skipSpaces()
            guard peek == UInt8(ascii: ".") else { return parts }
            i += 1
        }
    }

    func isBareKeyChar(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
    }

    // MARK: values

    mutating func parseValue() throws(TOMLError) -> TOMLValue {
        guard let c = peek else { throw error("expected a value") }
        switch c {
        case UInt8(ascii: "\""):
            if peek(1) == UInt8(ascii: "\""), peek(2) == UInt8(ascii: "\"") { return .string(try parseMultilineBasicString()) }
            return .string(try parseBasicString())
        case UInt8(ascii: "'"):
            if peek(1) == UInt8(ascii: "'"), peek(2) == UInt8(ascii: "'") { return .string(try parseMultilineLiteralString()) }
            return .string(try parseLiteralString())
        case UInt8(ascii: "["):
            return try parseArray()
        case UInt8(ascii: "{"):
            return try parseInlineTable()
        default:
            return try parseScalar()
        }
    }

    mutating func parseArray() throws(TOMLError) -> TOMLValue {
        i += 1
        var items: [TOMLValue] = []
        while true {
            try skipBlank()
            guard let c = peek else { throw error("unterminated array") }
            if c == UInt8(ascii: "]") {
                i += 1
                return .array(items)
            }
            items.append(try parseValue())
            try skipBlank()
            if atEnd { throw error("unterminated array") }
            if peek == UInt8(ascii: ",") {
                i += 1
            } else if peek == UInt8(ascii: "]") {
                continue
            } else {
                throw error("expected ',' or ']' in an array")
            }
        }
    }

    mutating func parseInlineTable() throws(TOMLError) -> TOMLValue {
        i += 1
        let node = Node()
        node.inline = true
        skipSpaces()
        if peek == UInt8(ascii: "}") {
            i += 1
            return .table(node.freeze())
        }
        while true {
            skipSpaces()
            try parseKeyValue(into: node)
            skipSpaces()
            guard let c = peek else { throw error("unterminated inline table") }
            if c == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if c == UInt8(ascii: "}") {
                i += 1
                return .table(node.freeze())
            }
            throw error("expected ',' or '}' in an inline table")
        }
    }

    mutating func parseScalar() throws(TOMLError) -> TOMLValue {
        let start = i
        let startColumn = i - lineStart + 1
        while let c = peek, isBareKeyChar(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: ":") {
            i += 1
        }
        let token = String(decoding: b[start..<i], as: UTF8.self)
        func bad(_ message: String) -> TOMLError { TOMLError(line: line, column: startColumn, message: message) }
        if token.isEmpty { throw bad("expected a value, found '\(String(decoding: [b[i]], as: UTF8.self))'") }
        if token == "true" { return .boolean(true) }
        if token == "false" { return .boolean(false) }
        switch token {
        case "inf", "+inf": return .float(.infinity)
        case "-inf": return .float(-.infinity)
        case "nan", "+nan", "-nan": return .float(.nan)
        default: break
        }
        let bytes = Array(token.utf8)
        if bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") || token.contains(":") {
            throw bad("dates and times are not supported here; write the value as a quoted string")
        }
        if let v = parseInteger(bytes) { return .integer(v) }
        if let v = parseFloat(bytes) { return .float(v) }
        throw bad("'\(token)' is not a valid value (strings need quotes)")
    }

    func parseInteger(_ t: [UInt8]) -> Int64? {
        var s = t[...]
        var negative = false
        if let f = s.first, f == UInt8(ascii: "+") || f == UInt8(ascii: "-") {
            negative = f == UInt8(ascii: "-")
            s = s.dropFirst()
        }
        var radix: Int64 = 10
        if s.count > 2, s.first == UInt8(ascii: "0"), t.first != UInt8(ascii: "+"), t.first != UInt8(ascii: "-") {
            switch s[s.startIndex + 1] {
            case UInt8(ascii: "x"): radix = 16
            case UInt8(ascii: "o"): radix = 8
            case UInt8(ascii: "b"): radix = 2
            default: return nil
            }
            s = s.dropFirst(2)
        }
        guard let first = s.first, first != UInt8(ascii: "_"), s.last != UInt8(ascii: "_") else { return nil }
        if radix == 10, s.count > 1, first == UInt8(ascii: "0") { return nil }
        var v: Int64 = 0
        var previousUnderscore = false
        for c in s {
            if c == UInt8(ascii: "_") {
                if previousUnderscore { return nil }
                previousUnderscore = true
                continue
            }
            previousUnderscore = false
            let d: Int64
            switch c {
            case 0x30...0x39: d = Int64(c - 0x30)
            case 0x61...0x66: d = Int64(c - 0x61 + 10)
            case 0x41...0x46: d = Int64(c - 0x41 + 10)
            default: return nil
            }
            guard d < radix else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: radix)
            let (a, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            guard !o1, !o2 else { return nil }
            v = a
        }
        return v
    }

    func parseFloat(_ t: [UInt8]) -> Double? {
        // Underscores only between digits; a '.' needs digits on both sides.
        var cleaned: [UInt8] = []
        for (k, c) in t.enumerated() {
            if c == UInt8(ascii: "_") {
                guard k > 0, k < t.count - 1, isDigit(t[k - 1]), isDigit(t[k + 1]) else { return nil }
                continue
            }
            if c == UInt8(ascii: ".") {
                guard k > 0, k < t.count - 1, isDigit(t[k - 1]), isDigit(t[k + 1]) else { return nil }
            }
            cleaned.append(c)
        }
        guard cleaned.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) else { return nil }
        var digits = cleaned[...]
        if let f = digits.first, f == UInt8(ascii: "+") || f == UInt8(ascii: "-") { digits = digits.dropFirst() }
        if digits.count > 1, digits.first == UInt8(ascii: "0"), isDigit(digits[digits.startIndex + 1]) { return nil }
        guard cleaned.allSatisfy({ isDigit($0) || "+-.eE".utf8.contains($0) }) else { return nil }
        return Double(String(decoding: cleaned, as: UTF8.self))
    }

    func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    // MARK: strings

    mutating func parseBasicString() throws(TOMLError) -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw error("unterminated string") }
            switch c {
            case UInt8(ascii: "\""):
                i += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape(into: &out)
            case 0x0A, 0x0D:
                throw error("newline in a single-line string (use \"\"\" for multi-line strings)")
            default:
                if c < 0x20 && c != 0x09 || c == 0x7F { throw error("control character in a string; escape it") }
                out.append(c)
                i += 1
            }
        }
    }

    mutating func parseMultilineBasicString() throws(TOMLError) -> String {
        i += 3
        if peek == 0x0A { advance() } else if peek == 0x0D && peek(1) == 0x0A { i += 1; advance() }
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw error("unterminated multi-line string") }
            if c == UInt8(ascii: "\""), peek(1) == UInt8(ascii: "\""), peek(2) == UInt8(ascii: "\"") {
                // Up to two quotes may directly precede the closing delimiter.
                var extra = 0
                while peek(3 + extra) == UInt8(ascii: "\""), extra < 2 { extra += 1 }
                out += Array(repeating: UInt8(ascii: "\""), count: extra)
                i += 3 + extra
                return String(decoding: out, as: UTF8.self)
            }
            if c == UInt8(ascii: "\\") {
                // A line-ending backslash trims the newline and following whitespace.
                var j = i + 1
                while j < b.count, b[j] == 0x20 || b[j] == 0x09 { j += 1 }
                if j < b.count, b[j] == 0x0A || (b[j] == 0x0D && j + 1 < b.count && b[j + 1] == 0x0A) {
                    i = j
                    while let d = peek, d == 0x20 || d == 0x09 || d == 0x0A || d == 0x0D { advance() }
                    continue
                }
                try parseEscape(into: &out)
                continue
            }
            if c < 0x20 && c != 0x09 && c != 0x0A && c != 0x0D || c == 0x7F { throw error("control character in a string; escape it") }
            out.append(c)
            advance()
        }
    }

    mutating func parseLiteralString() throws(TOMLError) -> String {
        i += 1
        let start = i
        while true {
            guard let c = peek else { throw error("unterminated string") }
            if c == UInt8(ascii: "'") {
                let s = String(decoding: b[start..<i], as: UTF8.self)
                i += 1
                return s
            }
            if c == 0x0A || c == 0x0D { throw error("newline in a single-line string (use ''' for multi-line strings)") }
            if c < 0x20 && c != 0x09 || c == 0x7F { throw error("control character in a string") }
            i += 1
        }
    }

    mutating func parseMultilineLiteralString() throws(TOMLError) -> String {
        i += 3
        if peek == 0x0A { advance() } else if peek == 0x0D && peek(1) == 0x0A { i += 1; advance() }
        let start = i
        while true {
            guard let c = peek else { throw error("unterminated multi-line string") }
            if c == UInt8(ascii: "'"), peek(1) == UInt8(ascii: "'"), peek(2) == UInt8(ascii: "'") {
                var extra = 0
                while peek(3 + extra) == UInt8(ascii: "'"), extra < 2 { extra += 1 }
                let s = String(decoding: b[start..<(i + extra)], as: UTF8.self)
                i += 3 + extra
                return s
            }
            // Tabs and newlines (LF or CRLF) only; a lone CR is a control character too.
            if (c < 0x20 && c != 0x09 && c != 0x0A && !(c == 0x0D && peek(1) == 0x0A)) || c == 0x7F {
                throw error("control character in a string")
            }
            advance()
        }
    }

    mutating func parseEscape(into out: inout [UInt8]) throws(TOMLError) {
        i += 1
        guard let e = peek else { throw error("unterminated escape") }
        i += 1
        switch e {
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "e"): out.append(0x1B)
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let n = e == UInt8(ascii: "u") ? 4 : 8
            guard i + n <= b.count, let v = UInt32(String(decoding: b[i..<(i + n)], as: UTF8.self), radix: 16),
                let scalar = Unicode.Scalar(v)
            else { throw error("invalid \\\(Character(Unicode.Scalar(e))) escape: need \(n) hex digits naming a Unicode scalar") }
            i += n
            out += Array(String(Character(scalar)).utf8)
        default:
            i -= 1
            throw error("invalid escape \\\(Character(Unicode.Scalar(e)))")
        }
    }
}

extension Node {
    static func from(_ t: TOMLTable) -> Node {
        let n = Node()
        n.inline = true
        for k in t.keys {
            switch t[k]! {
            case .table(let sub): n.set(k, .table(from(sub)), line: t.lines[k] ?? 0)
            case let v: n.set(k, .value(v), line: t.lines[k] ?? 0)
            }
        }
        return n
    }
}
