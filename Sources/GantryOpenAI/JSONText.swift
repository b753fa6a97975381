/// JSON text built by hand for the streaming path: a chunk is a few fields around the new
/// text, so escaping straight into one string beats encoding a value each time.
public enum JSONText {
    /// Appends `value` as a JSON string literal (RFC 8259 escapes).
    public static func string(_ value: String, into out: inout String) {
        out.append("\"")
        var plainStart = value.unicodeScalars.startIndex
        var i = plainStart
        let scalars = value.unicodeScalars
        while i < scalars.endIndex {
            let u = scalars[i]
            let escape: String? =
                switch u {
                case "\"": "\\\""
                case "\\": "\\\\"
                case "\n": "\\n"
                case "\r": "\\r"
                case "\t": "\\t"
                default: u.value < 0x20 ? "\\u00" + hex(UInt8(u.value)) : nil
                }
            if let escape {
                out.unicodeScalars.append(contentsOf: scalars[plainStart..<i])
                out.append(escape)
                plainStart = scalars.index(after: i)
            }
            i = scalars.index(after: i)
        }
        out.unicodeScalars.append(contentsOf: scalars[plainStart..<scalars.endIndex])
        out.append("\"")
    }

    public static func string(_ value: String) -> String {
        var s = ""
        string(value, into: &s)
        return s
    }

    private static func hex(_ b: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String(digits[Int(b >> 4)]) + String(digits[Int(b & 15)])
    }

    /// Dollars from micro-dollars, as a plain decimal (never exponent form).
    public static func dollars(_ micro: Int64) -> String {
        let sign = micro < 0 ? "-" : ""
        let m = micro.magnitude
        let fraction = String(m % 1_000_000)
        return sign + String(m / 1_000_000) + "." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    /// Joules from millijoules, as a plain decimal.
    public static func joules(_ milli: Int64) -> String {
        let m = milli.magnitude
        let fraction = String(m % 1000)
        return (milli < 0 ? "-" : "") + String(m / 1000) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
