import NIOConcurrencyHelpers

/// The host's measured energy, as one monotonic counter in millijoules: NVML's total energy
/// per GPU plus RAPL's CPU packages, whichever the host has. Nil when it has neither (then
/// the agent estimates from watts).
public final class EnergyCounters: Sendable {
    private let probe: HostProbe
    private let rapl: RAPLReader
    private let state = NIOLockedValueBox(RAPLAccumulator())
    /// Whether any counter exists on this host.
    public let available: Bool
    public let sources: [String]

    public init(probe: HostProbe) {
        self.probe = probe
        self.rapl = RAPLReader(fs: probe.fs)
        var sources: [String] = []
        if probe.hasNVMLEnergy { sources.append("nvml") }
        if !rapl.domains().isEmpty { sources.append("rapl") }
        self.sources = sources
        self.available = !sources.isEmpty
        // Prime the RAPL accumulator.
        if sources.contains("rapl") { state.withLockedValue { $0.add(rapl.read()) } }
    }

    /// The counter now, in millijoules; nil without counters.
    public func read() -> UInt64? {
        guard available else { return nil }
        var total: UInt64 = 0
        if sources.contains("nvml") { total &+= probe.nvmlEnergyMillijoules() ?? 0 }
        if sources.contains("rapl") {
            let readings = rapl.read()
            total &+= state.withLockedValue { acc in
                acc.add(readings)
                return acc.totalMicrojoules / 1000
            }
        }
        return total
    }
}
