/// Wall-clock time as integer milliseconds since the Unix epoch.
///
/// The pure core never reads a clock: every event carries `now: Timestamp`, supplied by
/// the shell. Integer milliseconds keep arithmetic exact and persist without loss.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var unixMillis: Int64

    public init(unixMillis: Int64) { self.unixMillis = unixMillis }

    public static let zero = Timestamp(unixMillis: 0)

    public var description: String { rfc3339 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.unixMillis < b.unixMillis }

    public static func + (t: Timestamp, ms: Int64) -> Timestamp { Timestamp(unixMillis: t.unixMillis + ms) }
    public static func - (t: Timestamp, ms: Int64) -> Timestamp { Timestamp(unixMillis: t.unixMillis - ms) }
    /// Milliseconds from `b` to `a`.
    public static func - (a: Timestamp, b: Timestamp) -> Int64 { a.unixMillis - b.unixMillis }

    /// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-29T08:15:02.123Z`.
    public var rfc3339: String {
        let ms = unixMillis
        var days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let msOfDay = ms - days * 86_400_000
        // Civil-from-days (Howard Hinnant's algorithm).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        let h = msOfDay / 3_600_000, mi = (msOfDay / 60_000) % 60, s = (msOfDay / 1000) % 60, f = msOfDay % 1000
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(h, 2)):\(pad(mi, 2)):\(pad(s, 2)).\(pad(f, 3))Z"
    }

    /// Parses RFC 3339 (`2026-11-29T08:15:02Z`, fractional seconds and offsets allowed)
    /// or a bare date (`2026-11-29`, midnight UTC).
    public init?(rfc3339 text: String) {
        let c = Array(text.utf8)
        func num(_ from: Int, _ len: Int) -> Int64? {
            guard from + len <= c.count else { return nil }
            var v: Int64 = 0
            for b in c[from..<(from + len)] {
                guard b >= 0x30 && b <= 0x39 else { return nil }
                v = v * 10 + Int64(b - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), c.count >= 10, c[4] == 0x2D, let mo = num(5, 2), c[7] == 0x2D,
            let d = num(8, 2), (1...12).contains(mo), (1...31).contains(d)
        else { return nil }
        var ms: Int64 = 0
        var offsetMin: Int64 = 0
        if c.count > 10 {
            guard c[10] == UInt8(ascii: "T") || c[10] == UInt8(ascii: "t") || c[10] == 0x20,
                let h = num(11, 2), c.count > 13, c[13] == 0x3A, let mi = num(14, 2),
                c.count > 16, c[16] == 0x3A, let s = num(17, 2), h < 24, mi < 60, s < 61
            else { return nil }
            ms = ((h * 60 + mi) * 60 + s) * 1000
            var i = 19
            if i < c.count && c[i] == 0x2E {
                i += 1
                var scale: Int64 = 100
                let start = i
                while i < c.count, c[i] >= 0x30, c[i] <= 0x39 {
                    ms += Int64(c[i] - 0x30) * scale
                    scale /= 10
                    i += 1
                }
                guard i > start else { return nil }
            }
            guard i < c.count else { return nil }
            switch c[i] {
            case UInt8(ascii: "Z"), UInt8(ascii: "z"):
                guard i + 1 == c.count else { return nil }
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                guard i + 6 == c.count, let oh = num(i + 1, 2), c[i + 3] == 0x3A, let om = num(i + 4, 2) else { return nil }
                offsetMin = (oh * 60 + om) * (c[i] == UInt8(ascii: "+") ? 1 : -1)
            default:
                return nil
            }
        }
        // Days-from-civil.
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        self.unixMillis = days * 86_400_000 + ms - offsetMin * 60_000
    }
}

private func pad(_ v: Int64, _ width: Int) -> String {
    let s = String(v)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

/// Parses durations like `500ms`, `30s`, `5m`, `12h`, `7d`, `1w` and combinations
/// (`1h30m`) into milliseconds.
public func parseDurationMillis(_ text: String) -> Int64? {
    let bytes = Array(text.utf8)
    guard !bytes.isEmpty else { return nil }
    var total: Int64 = 0
    var i = 0
    while i < bytes.count {
        var n: Int64 = 0
        let start = i
        while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(bytes[i] - 0x30))
            guard !o1, !o2 else { return nil }
            n = a
            i += 1
        }
        guard i > start else { return nil }
        let unitStart = i
        while i < bytes.count, !(bytes[i] >= 0x30 && bytes[i] <= 0x39) { i += 1 }
        let unit = String(decoding: bytes[unitStart..<i], as: UTF8.self)
        let scale: Int64
        switch unit {
        case "ms": scale = 1
        case "s": scale = 1000
        case "m": scale = 60_000
        case "h": scale = 3_600_000
        case "d": scale = 86_400_000
        case "w": scale = 7 * 86_400_000
        default: return nil
        }
        let (v, o) = n.multipliedReportingOverflow(by: scale)
        guard !o else { return nil }
        total += v
    }
    return total
}
