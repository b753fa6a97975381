import Foundation
import GantryHost
import GantryModel
import Testing

@Suite("Host inventory")
struct InventoryTests {
    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path

    func probe(_ host: String, smi: Bool) -> HostProbe {
        HostProbe(
            fs: HostFS(root: "\(Self.fixtures)/\(host)"),
            runner: ProcessCommandRunner(searchPath: smi ? ["\(Self.fixtures)/bin"] : ["/nonexistent"]),
            useNVML: false)
    }

    @Test("a GPU host: CPUs from the affinity mask, memory, and an H100 and an H200 from nvidia-smi")
    func gpuHost() async throws {
        let inv = await probe("gpu-host", smi: true).inventory()
        #expect(inv.hostname == "gpu-07")
        #expect(inv.cpus == 3)  // Cpus_allowed_list 0-1,3 although cpuinfo lists 4
        #expect(inv.cpuModel == "AMD EPYC 9654 96-Core Processor")
        #expect(inv.memoryBytes == 2_113_470_200 * 1024)
        #expect(inv.kernel == "6.1.0-28-amd64")
        #expect(inv.gpuSource == .nvidiaSMI)
        #expect(inv.gpus == [
            GPU(index: 0, uuid: "GPU-1b2c3d4e-0000-4000-8000-000000000100", name: "NVIDIA H100 80GB HBM3", memoryBytes: 81559 * 1_048_576, migEnabled: false),
            GPU(index: 1, uuid: "GPU-1b2c3d4e-0000-4000-8000-000000000200", name: "NVIDIA H200", memoryBytes: 143_771 * 1_048_576, migEnabled: true),
        ])
    }

    @Test("live stats from nvidia-smi, with [N/A] read as zero")
    func gpuStats() async throws {
        let stats = await probe("gpu-host", smi: true).stats(source: .nvidiaSMI)
        #expect(stats.gpus.count == 2)
        #expect(stats.gpus[0].utilizationPercent == 87)
        #expect(stats.gpus[0].powerMilliwatts == 612_450)
        #expect(stats.gpus[1].powerMilliwatts == 0)
        #expect(stats.gpuEnergy == nil)  // nvidia-smi gives no energy counter
        #expect(stats.load1 == 1.5)
        #expect(stats.memoryAvailableBytes == 2_000_000_000 * 1024)
    }

    @Test("with neither NVML nor nvidia-smi the node is CPU-only")
    func cpuOnly() async throws {
        let inv = await probe("cpu-host", smi: false).inventory()
        #expect(inv.isCPUOnly)
        #expect(inv.gpuSource == .none)
        #expect(inv.cpus == 2)  // no affinity list: count cpuinfo processors
        #expect(inv.cpuModel == "Intel(R) Xeon(R) Platinum 8480+")
        #expect(inv.memoryBytes == 16_384_000 * 1024)
    }

    @Test("an nvidia-smi that fails or prints nothing useful leaves the node CPU-only")
    func brokenSMI() async throws {
        struct Failing: CommandRunner {
            func run(_ argv: [String], timeoutMs: Int) async -> CommandOutput? { CommandOutput(status: 9, stdout: "NVIDIA-SMI has failed") }
        }
        let inv = await HostProbe(fs: HostFS(root: "\(Self.fixtures)/cpu-host"), runner: Failing(), useNVML: false).inventory()
        #expect(inv.isCPUOnly)
    }

    @Test("proc parsers", arguments: [("0-3", 4), ("0,2,4-5", 4), ("7", 1), ("", nil), ("a-b", nil), ("3-1", nil)] as [(String, Int?)])
    func cpuList(_ text: String, _ count: Int?) {
        #expect(ProcParsers.cpuListCount(text) == count)
    }

    @Test("nvidia-smi CSV with malformed lines keeps the good ones")
    func smiParsing() {
        let gpus = NvidiaSMI.parseInventory("garbage\n0, GPU-a, NVIDIA H200, 143771, Disabled\n, , ,\n")
        #expect(gpus.map(\.name) == ["NVIDIA H200"])
    }
}
