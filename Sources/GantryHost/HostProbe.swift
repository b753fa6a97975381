public import GantryModel

/// Discovers the host: CPUs, memory, GPUs. Every read goes through `fs` (an injectable
/// root) and `runner` (an injectable command runner); NVML is tried first unless
/// disabled, then `nvidia-smi`, then the host is CPU-only.
public struct HostProbe: Sendable {
    public let fs: HostFS
    public let runner: any CommandRunner
    let nvml: NVML?

    public init(fs: HostFS = HostFS(), runner: any CommandRunner = ProcessCommandRunner(), useNVML: Bool = true) {
        self.fs = fs
        self.runner = runner
        self.nvml = useNVML ? NVML() : nil
    }

    public func inventory() async -> Inventory {
        let cpuinfo = ProcParsers.cpuinfo(fs.read("/proc/cpuinfo") ?? "")
        let allowed = fs.read("/proc/self/status").flatMap(ProcParsers.allowedCPUs)
        let memory = fs.read("/proc/meminfo").flatMap { ProcParsers.meminfo($0, field: "MemTotal") } ?? 0
        let (gpus, source) = await discoverGPUs()
        return Inventory(
            hostname: fs.read("/proc/sys/kernel/hostname")?.trimmingCharacters() ?? "",
            cpus: allowed ?? cpuinfo.count,
            cpuModel: cpuinfo.model,
            memoryBytes: memory,
            gpus: gpus,
            gpuSource: source,
            kernel: fs.read("/proc/sys/kernel/osrelease")?.trimmingCharacters() ?? "")
    }

    public func discoverGPUs() async -> ([GPU], GPUSource) {
        if let nvml {
            let gpus = nvml.gpus()
            if !gpus.isEmpty { return (gpus, .nvml) }
        }
        if let out = await runner.run(NvidiaSMI.inventoryQuery, timeoutMs: 10_000), out.status == 0 {
            let gpus = NvidiaSMI.parseInventory(out.stdout)
            if !gpus.isEmpty { return (gpus, .nvidiaSMI) }
        }
        return ([], .none)
    }

    /// Whether NVML reports a total-energy counter for every GPU.
    public var hasNVMLEnergy: Bool {
        guard let nvml else { return false }
        let values = nvml.energyMillijoules()
        return !values.isEmpty && values.allSatisfy { $0 != nil }
    }

    /// The sum of NVML's total-energy counters, in millijoules.
    public func nvmlEnergyMillijoules() -> UInt64? {
        guard let nvml else { return nil }
        let values = nvml.energyMillijoules().compactMap { $0 }
        return values.isEmpty ? nil : values.reduce(0, &+)
    }

    /// Live host readings for a heartbeat.
    public func stats(source: GPUSource) async -> HostStats {
        var stats = HostStats()
        stats.load1 = fs.read("/proc/loadavg").flatMap(ProcParsers.load1) ?? 0
        stats.memoryAvailableBytes = fs.read("/proc/meminfo").flatMap { ProcParsers.meminfo($0, field: "MemAvailable") } ?? 0
        switch source {
        case .nvml:
            stats.gpus = nvml?.stats() ?? []
        case .nvidiaSMI:
            if let out = await runner.run(NvidiaSMI.statsQuery, timeoutMs: 5000), out.status == 0 {
                stats.gpus = NvidiaSMI.parseStats(out.stdout)
            }
        case .none:
            break
        }
        let energies = stats.gpus.compactMap(\.energyMillijoules)
        if !energies.isEmpty, energies.count == stats.gpus.count {
            stats.gpuEnergy = EnergyCounter(millijoules: energies.reduce(0, &+), sources: energies.count)
        }
        return stats
    }
}
