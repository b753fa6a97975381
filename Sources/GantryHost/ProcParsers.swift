/// Pure parsers for the `/proc` files the agent reads. Each takes the file's text.
public enum ProcParsers {
    /// Counts CPUs in a list like `0-3,6,8-9`. Nil when the text is not such a list.
    public static func cpuListCount(_ text: String) -> Int? {
        var count = 0
        for part in text.trimmingCharacters().split(separator: ",") {
            let bounds = part.split(separator: "-")
            switch bounds.count {
            case 1:
                guard Int(bounds[0]) != nil else { return nil }
                count += 1
            case 2:
                guard let a = Int(bounds[0]), let b = Int(bounds[1]), b >= a else { return nil }
                count += b - a + 1
            default:
                return nil
            }
        }
        return count > 0 ? count : nil
    }

    /// `Cpus_allowed_list` from `/proc/self/status`: the affinity mask.
    public static func allowedCPUs(status: String) -> Int? {
        for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
            return cpuListCount(String(line.dropFirst("Cpus_allowed_list:".count)))
        }
        return nil
    }

    /// The number of `processor` entries and the CPU model name in `/proc/cpuinfo`.
    public static func cpuinfo(_ text: String) -> (count: Int, model: String) {
        var count = 0
        var model = ""
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters()
            let value = parts[1].trimmingCharacters()
            if key == "processor" { count += 1 }
            if model.isEmpty && (key == "model name" || key == "Model" || key == "cpu model") { model = value }
        }
        return (count, model)
    }

    /// A `/proc/meminfo` field in bytes (the file gives kB).
    public static func meminfo(_ text: String, field: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let rest = line.dropFirst(field.count + 1).split(separator: " ")
            guard let kb = rest.first.flatMap({ UInt64($0) }) else { return nil }
            return kb * 1024
        }
        return nil
    }

    /// The 1-minute load average from `/proc/loadavg`.
    public static func load1(_ text: String) -> Double? {
        text.split(separator: " ").first.flatMap { Double($0) }
    }
}

extension StringProtocol {
    func trimmingCharacters() -> String {
        let s = String(self)
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
