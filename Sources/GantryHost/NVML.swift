public import GantryModel
#if canImport(Glibc)
import Glibc
#endif

/// NVIDIA's management library, loaded at run time with `dlopen("libnvidia-ml.so.1")` so
/// the agent has no link-time dependency on the driver and runs on CPU-only hosts.
public final class NVML: @unchecked Sendable {
    // nvmlReturn_t is a C enum (int); nvmlDevice_t an opaque pointer.
    private typealias Init = @convention(c) () -> Int32
    private typealias GetCount = @convention(c) (UnsafeMutablePointer<UInt32>) -> Int32
    private typealias GetHandle = @convention(c) (UInt32, UnsafeMutablePointer<OpaquePointer?>) -> Int32
    private typealias GetString = @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>, UInt32) -> Int32
    /// nvmlMemory_t is {total, free, used} as unsigned long long: passed as 3 UInt64s.
    private typealias GetMemory = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt64>) -> Int32
    /// nvmlUtilization_t is {gpu, memory} as unsigned int: passed as 2 UInt32s.
    private typealias GetUtilization = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt32>) -> Int32
    private typealias GetUInt32 = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt32>) -> Int32
    private typealias GetUInt64 = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt64>) -> Int32
    private typealias GetMig = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt32>, UnsafeMutablePointer<UInt32>) -> Int32

    private let handle: UnsafeMutableRawPointer
    private let getCount: GetCount
    private let getHandle: GetHandle
    private let getName: GetString
    private let getUUID: GetString
    private let getMemory: GetMemory
    private let getUtilization: GetUtilization?
    private let getPower: GetUInt32?
    private let getEnergy: GetUInt64?
    private let getMig: GetMig?

    /// Loads and initializes NVML; nil when the library or the driver is absent.
    public init?(library: String = "libnvidia-ml.so.1") {
        guard let h = dlopen(library, RTLD_NOW | RTLD_LOCAL) else { return nil }
        func sym<T>(_ name: String, _: T.Type) -> T? {
            guard let p = dlsym(h, name) else { return nil }
            return unsafeBitCast(p, to: T.self)
        }
        guard let initialize = sym("nvmlInit_v2", Init.self),
            let getCount = sym("nvmlDeviceGetCount_v2", GetCount.self),
            let getHandle = sym("nvmlDeviceGetHandleByIndex_v2", GetHandle.self),
            let getName = sym("nvmlDeviceGetName", GetString.self),
            let getUUID = sym("nvmlDeviceGetUUID", GetString.self),
            let getMemory = sym("nvmlDeviceGetMemoryInfo", GetMemory.self),
            initialize() == 0
        else {
            dlclose(h)
            return nil
        }
        self.handle = h
        self.getCount = getCount
        self.getHandle = getHandle
        self.getName = getName
        self.getUUID = getUUID
        self.getMemory = getMemory
        self.getUtilization = sym("nvmlDeviceGetUtilizationRates", GetUtilization.self)
        self.getPower = sym("nvmlDeviceGetPowerUsage", GetUInt32.self)
        self.getEnergy = sym("nvmlDeviceGetTotalEnergyConsumption", GetUInt64.self)
        self.getMig = sym("nvmlDeviceGetMigMode", GetMig.self)
    }

    deinit {
        typealias Shutdown = @convention(c) () -> Int32
        if let p = dlsym(handle, "nvmlShutdown") { _ = unsafeBitCast(p, to: Shutdown.self)() }
        dlclose(handle)
    }

    private func devices() -> [(index: Int, device: OpaquePointer?)] {
        var count: UInt32 = 0
        guard getCount(&count) == 0 else { return [] }
        return (0..<count).compactMap { i in
            var device: OpaquePointer?
            return getHandle(i, &device) == 0 ? (Int(i), device) : nil
        }
    }

    private func string(_ f: GetString, _ device: OpaquePointer?) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        guard f(device, &buffer, UInt32(buffer.count)) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func gpus() -> [GPU] {
        devices().map { index, device in
            var memory = [UInt64](repeating: 0, count: 3)
            _ = getMemory(device, &memory)
            var current: UInt32 = 0
            var pending: UInt32 = 0
            let mig = getMig.map { $0(device, &current, &pending) == 0 && current == 1 } ?? false
            return GPU(index: index, uuid: string(getUUID, device), name: string(getName, device), memoryBytes: memory[0], migEnabled: mig)
        }
    }

    /// Each GPU's total-energy counter (mJ since the driver loaded); nil where unsupported.
    public func energyMillijoules() -> [UInt64?] {
        devices().map { _, device in
            var energy: UInt64 = 0
            return getEnergy.map { $0(device, &energy) == 0 } == true ? energy : nil
        }
    }

    /// Live readings: utilization, power (mW), the total-energy counter (mJ since the
    /// driver loaded) and memory in use.
    public func stats() -> [GPUStats] {
        devices().map { index, device in
            var util = [UInt32](repeating: 0, count: 2)
            let utilOK = getUtilization.map { $0(device, &util) == 0 } ?? false
            var power: UInt32 = 0
            let powerOK = getPower.map { $0(device, &power) == 0 } ?? false
            var energy: UInt64 = 0
            let energyOK = getEnergy.map { $0(device, &energy) == 0 } ?? false
            var memory = [UInt64](repeating: 0, count: 3)
            _ = getMemory(device, &memory)
            return GPUStats(
                index: index, utilizationPercent: utilOK ? Int(util[0]) : 0, powerMilliwatts: powerOK ? Int(power) : 0,
                energyMillijoules: energyOK ? energy : nil, memoryUsedBytes: memory[2])
        }
    }
}
