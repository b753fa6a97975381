import Foundation
import GantryHost
import GantryModel
import Testing

@Suite("Energy readers")
struct EnergyReaderTests {
    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path

    @Test("RAPL accumulation across a wrap at max_energy_range_uj")
    func raplWrap() {
        var acc = RAPLAccumulator()
        acc.add([("intel-rapl:0", 4_294_967_000, 4_294_967_295)])
        #expect(acc.totalMicrojoules == 0)  // the first reading is the baseline
        acc.add([("intel-rapl:0", 4_294_967_200, 4_294_967_295)])
        #expect(acc.totalMicrojoules == 200)
        // Wrapped: 95 µJ to the top of the range, then 300 from zero.
        acc.add([("intel-rapl:0", 300, 4_294_967_295)])
        #expect(acc.totalMicrojoules == 200 + 95 + 300)
    }

    @Test("RAPL package domains from a fixture sysfs, sub-zones excluded")
    func raplFixture() {
        let reader = RAPLReader(fs: HostFS(root: "\(Self.fixtures)/rapl-host"))
        #expect(reader.domains() == ["intel-rapl:0", "intel-rapl:1"])
        let readings = reader.read()
        #expect(readings.map(\.microjoules) == [4_294_967_000, 1000])
        #expect(readings.map(\.range) == [4_294_967_295, 262_143_328_850])
    }

    /// Builds the fake NVML library with the toolchain's clang.
    static func fakeNVML() throws -> String? {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("libfake-nvml-\(UUID().uuidString.prefix(6)).so").path
        let candidates = ["/opt/swift/usr/bin/clang", "/usr/bin/clang", "/usr/bin/cc", "/usr/bin/gcc"]
        guard let cc = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cc)
        p.arguments = ["-shared", "-fPIC", "-o", out, "\(fixtures)/nvml/fake_nvml.c"]
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? out : nil
    }

    @Test("NVML through dlopen: GPUs, live stats and the total-energy counter")
    func nvml() throws {
        guard let library = try Self.fakeNVML() else {
            Issue.record("no C compiler to build the fake NVML library")
            return
        }
        defer { unlink(library) }
        let nvml = try #require(NVML(library: library))
        #expect(nvml.gpus() == [
            GPU(index: 0, uuid: "GPU-00000000-0000-4000-8000-000000000100", name: "NVIDIA H100 80GB HBM3", memoryBytes: 85_520_809_984, migEnabled: false),
            GPU(index: 1, uuid: "GPU-00000000-0000-4000-8000-000000000200", name: "NVIDIA H200", memoryBytes: 150_754_820_096, migEnabled: true),
        ])
        let stats = nvml.stats()
        #expect(stats.map(\.utilizationPercent) == [87, 0])
        #expect(stats.map(\.powerMilliwatts) == [612_000, 75_000])
        #expect(stats.map(\.memoryUsedBytes) == [1_073_741_824, 0])
        // The counters only grow.
        let first = nvml.energyMillijoules().compactMap { $0 }.reduce(0, +)
        let second = nvml.energyMillijoules().compactMap { $0 }.reduce(0, +)
        #expect(second - first == 800)
        #expect(NVML(library: "/nonexistent/libnvidia-ml.so.1") == nil)
    }
}
