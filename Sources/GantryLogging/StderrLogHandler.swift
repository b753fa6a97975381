public import Logging
public import GantrySystemd
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Logs one line per event to stderr, as text (`2026-11-29T08:15:02.123Z info msg k=v`) or
/// JSON lines. Each line is a single write(2), so lines from concurrent tasks never interleave.
public struct StderrLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let format: Format
    let level: LogLevelControl

    public init(label: String, format: Format, level: LogLevelControl) {
        self.label = label
        self.format = format
        self.level = level
    }

    public var logLevel: Logger.Level {
        get { level.level }
        set { level.level = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        let line: String
        switch format {
        case .text: line = Self.text(level: event.level, message: "\(event.message)", metadata: all)
        case .json: line = Self.json(level: event.level, label: label, message: "\(event.message)", metadata: all)
        }
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        bytes.withUnsafeBytes { p in
            var offset = 0
            while offset < p.count {
                let n = write(2, p.baseAddress! + offset, p.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }

    static func text(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var s = "\(timestamp()) \(level.rawValue) \(message)"
        for key in metadata.keys.sorted() {
            let value = "\(metadata[key]!)"
            s += " \(key)=" + (value.contains(" ") || value.isEmpty ? "\"\(value)\"" : value)
        }
        return s
    }

    static func json(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var s = "{\"ts\":\"\(timestamp())\",\"level\":\"\(level.rawValue)\",\"logger\":\(jsonString(label)),\"msg\":\(jsonString(message))"
        for key in metadata.keys.sorted() {
            s += ",\(jsonString(key)):\(jsonString("\(metadata[key]!)"))"
        }
        return s + "}"
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}

/// A JSON string literal with the escapes RFC 8259 requires.
public func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

extension Logger.Level {
    /// Parses `trace`…`critical`.
    public init?(name: String) {
        self.init(rawValue: name.lowercased())
    }
}
