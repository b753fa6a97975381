/// Intel RAPL package energy counters (`/sys/class/powercap/intel-rapl:N/energy_uj`).
///
/// Each counter counts microjoules and wraps at `max_energy_range_uj`; the accumulator keeps
/// a running total across wraps, so what the agent reports only ever grows.
public struct RAPLAccumulator: Sendable, Hashable {
    var last: [String: UInt64] = [:]
    /// Microjoules summed over all packages since the first reading.
    public private(set) var totalMicrojoules: UInt64 = 0

    public init() {}

    /// Adds one reading per domain: (name, energy_uj, max_energy_range_uj).
    public mutating func add(_ readings: [(domain: String, microjoules: UInt64, range: UInt64)]) {
        for r in readings {
            defer { last[r.domain] = r.microjoules }
            guard let previous = last[r.domain] else { continue }
            if r.microjoules >= previous {
                totalMicrojoules &+= r.microjoules - previous
            } else if r.range > previous {
                // Wrapped: up to the range, then from zero.
                totalMicrojoules &+= (r.range - previous) + r.microjoules
            }
        }
    }
}

/// Reads the package-level RAPL domains under an injectable root.
public struct RAPLReader: Sendable {
    public let fs: HostFS

    public init(fs: HostFS) { self.fs = fs }

    /// Top-level package domains (`intel-rapl:0`, not sub-zones like `intel-rapl:0:0`).
    public func domains() -> [String] {
        fs.list("/sys/class/powercap").filter { name in
            name.hasPrefix("intel-rapl:") && name.split(separator: ":").count == 2
        }
    }

    public func read() -> [(domain: String, microjoules: UInt64, range: UInt64)] {
        domains().compactMap { d in
            guard let e = fs.read("/sys/class/powercap/\(d)/energy_uj").flatMap({ UInt64($0.trimmingCharacters()) }) else { return nil }
            let range = fs.read("/sys/class/powercap/\(d)/max_energy_range_uj").flatMap { UInt64($0.trimmingCharacters()) } ?? 0
            return (d, e, range)
        }
    }
}
