/// A parser for the Prometheus text exposition format (version 0.0.4), as engines print it:
/// `# HELP` / `# TYPE` lines and other comments, samples with or without labels
/// (`name{a="b",c="d"} value [timestamp]`), names with `:` (`llamacpp:…`, `vllm:…`), label
/// values with escapes, and values such as `NaN`, `+Inf`, `1.23457e+06` (and C++'s `inf`,
/// `nan`, `-nan`). A line it cannot read is skipped and counted, never fatal.
public struct PrometheusText: Sendable {
    public struct Sample: Hashable, Sendable {
        public var name: String
        public var labels: [String: String]
        public var value: Double

        public init(name: String, labels: [String: String] = [:], value: Double) {
            self.name = name
            self.labels = labels
            self.value = value
        }
    }

    public private(set) var samples: [Sample] = []
    /// `# TYPE` by family name.
    public private(set) var types: [String: String] = [:]
    /// Lines that were neither comments nor readable samples.
    public private(set) var unreadable = 0

    public init(_ text: String) {
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = line.drop { $0 == " " || $0 == "\t" }
            guard !line.isEmpty else { continue }
            if line.first == "#" {
                let words = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
                if words.count >= 4, words[1] == "TYPE" { types[String(words[2])] = String(words[3]) }
                continue
            }
            if let sample = Self.sample(line) {
                samples.append(sample)
            } else {
                unreadable += 1
            }
        }
    }

    /// Samples of one name.
    public func values(_ name: String) -> [Sample] { samples.filter { $0.name == name } }

    /// The sum of a name's finite samples, or nil when it has none.
    public func sum(_ name: String) -> Double? {
        let finite = values(name).map(\.value).filter(\.isFinite)
        return finite.isEmpty ? nil : finite.reduce(0, +)
    }

    /// The largest of a name's finite samples, or nil when it has none.
    public func max(_ name: String) -> Double? {
        values(name).map(\.value).filter(\.isFinite).max()
    }

    /// Whether any sample's name starts with `prefix` (an engine's namespace).
    public func has(prefix: String) -> Bool { samples.contains { $0.name.hasPrefix(prefix) } }

    static func sample(_ line: Substring) -> Sample? {
        var i = line.startIndex
        func isNameStart(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c == "_" || c == ":") }
        func isName(_ c: Character) -> Bool { isNameStart(c) || (c.isASCII && c.isNumber) }
        guard i < line.endIndex, isNameStart(line[i]) else { return nil }
        while i < line.endIndex, isName(line[i]) { i = line.index(after: i) }
        let name = String(line[line.startIndex..<i])
        var labels: [String: String] = [:]
        if i < line.endIndex, line[i] == "{" {
            i = line.index(after: i)
            while true {
                while i < line.endIndex, line[i] == " " || line[i] == "," { i = line.index(after: i) }
                guard i < line.endIndex else { return nil }
                if line[i] == "}" {
                    i = line.index(after: i)
                    break
                }
                let keyStart = i
                while i < line.endIndex, isName(line[i]) { i = line.index(after: i) }
                let key = String(line[keyStart..<i])
                guard !key.isEmpty, i < line.endIndex, line[i] == "=" else { return nil }
                i = line.index(after: i)
                guard i < line.endIndex, line[i] == "\"" else { return nil }
                i = line.index(after: i)
                var value = ""
                while true {
                    guard i < line.endIndex else { return nil }
                    let c = line[i]
                    if c == "\"" { break }
                    if c == "\\" {
                        i = line.index(after: i)
                        guard i < line.endIndex else { return nil }
                        switch line[i] {
                        case "n": value.append("\n")
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        default: value.append("\\"); value.append(line[i])
                        }
                    } else {
                        value.append(c)
                    }
                    i = line.index(after: i)
                }
                i = line.index(after: i)
                labels[key] = value
            }
        }
        let rest = line[i...].split(separator: " ", omittingEmptySubsequences: true)
        guard let first = rest.first, let value = number(first) else { return nil }
        return Sample(name: name, labels: labels, value: value)
    }

    static func number(_ text: Substring) -> Double? {
        switch text.lowercased() {
        case "nan", "-nan", "+nan": return .nan
        case "+inf", "inf": return .infinity
        case "-inf": return -.infinity
        default: return Double(text)
        }
    }
}
