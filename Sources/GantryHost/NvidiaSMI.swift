public import GantryModel

/// GPU discovery through `nvidia-smi`, for hosts where NVML cannot be loaded.
public enum NvidiaSMI {
    public static let inventoryQuery = [
        "nvidia-smi", "--query-gpu=index,uuid,name,memory.total,mig.mode.current", "--format=csv,noheader,nounits",
    ]
    public static let statsQuery = [
        "nvidia-smi", "--query-gpu=index,utilization.gpu,power.draw,memory.used", "--format=csv,noheader,nounits",
    ]

    /// Parses the inventory query's CSV. Memory is in MiB. Malformed lines are skipped.
    public static func parseInventory(_ csv: String) -> [GPU] {
        csv.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters() }
            guard f.count >= 4, let index = Int(f[0]) else { return nil }
            let mib = UInt64(f[3]) ?? 0
            let mig = f.count > 4 && f[4].lowercased() == "enabled"
            return GPU(index: index, uuid: f[1], name: f[2], memoryBytes: mib * 1024 * 1024, migEnabled: mig)
        }
    }

    /// Parses the stats query's CSV (utilization %, power W, memory MiB; `[N/A]` → 0).
    public static func parseStats(_ csv: String) -> [GPUStats] {
        csv.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters() }
            guard f.count >= 4, let index = Int(f[0]) else { return nil }
            return GPUStats(
                index: index, utilizationPercent: Int(f[1]) ?? 0,
                powerMilliwatts: Int(((Double(f[2]) ?? 0) * 1000).rounded()),
                energyMillijoules: nil, memoryUsedBytes: (UInt64(f[3]) ?? 0) * 1024 * 1024)
        }
    }
}
