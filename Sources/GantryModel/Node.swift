/// What an operator sees of a node. Derived from the node's session, heartbeats and the
/// cordon/drain flags an admin set; see `NodeRecord.state`.
public enum NodeState: String, Sendable, CaseIterable, Codable {
    case ready, cordoned, draining, drained, lost
}

public struct GPU: Hashable, Sendable, Codable {
    public var index: Int
    public var uuid: String
    public var name: String
    public var memoryBytes: UInt64
    public var migEnabled: Bool

    public init(index: Int, uuid: String, name: String, memoryBytes: UInt64, migEnabled: Bool = false) {
        self.index = index
        self.uuid = uuid
        self.name = name
        self.memoryBytes = memoryBytes
        self.migEnabled = migEnabled
    }
}

/// How the agent found its GPUs.
public enum GPUSource: String, Sendable, Codable {
    case nvml, nvidiaSMI = "nvidia-smi", none
}

/// A host's hardware, discovered by the agent at start-up.
public struct Inventory: Hashable, Sendable, Codable {
    public var hostname: String
    /// Logical CPUs the agent may run on (its affinity mask).
    public var cpus: Int
    public var cpuModel: String
    public var memoryBytes: UInt64
    public var gpus: [GPU]
    public var gpuSource: GPUSource
    public var kernel: String

    public init(
        hostname: String = "", cpus: Int = 0, cpuModel: String = "", memoryBytes: UInt64 = 0,
        gpus: [GPU] = [], gpuSource: GPUSource = .none, kernel: String = ""
    ) {
        self.hostname = hostname
        self.cpus = cpus
        self.cpuModel = cpuModel
        self.memoryBytes = memoryBytes
        self.gpus = gpus
        self.gpuSource = gpuSource
        self.kernel = kernel
    }

    public var isCPUOnly: Bool { gpus.isEmpty }
}

public enum EngineKind: String, Sendable, CaseIterable, Codable {
    case openai, exec, sim
}

/// An engine as the agent reports it: static shape plus live slot use and health.
public struct EngineStatus: Hashable, Sendable, Codable {
    public var name: String
    public var kind: EngineKind
    public var models: [String]
    public var slots: Int
    public var slotsUsed: Int
    public var healthy: Bool
    public var endpoint: String
    public var healthDetail: String
    /// What the engine says about itself (openai engines with telemetry on); live, never stored.
    public var telemetry: EngineTelemetry?

    enum CodingKeys: String, CodingKey {
        case name, kind, models, slots, slotsUsed, healthy, endpoint, healthDetail
    }

    public init(
        name: String, kind: EngineKind, models: [String], slots: Int, slotsUsed: Int = 0,
        healthy: Bool = true, endpoint: String = "", healthDetail: String = "", telemetry: EngineTelemetry? = nil
    ) {
        self.name = name
        self.kind = kind
        self.models = models
        self.slots = slots
        self.slotsUsed = slotsUsed
        self.healthy = healthy
        self.endpoint = endpoint
        self.healthDetail = healthDetail
        self.telemetry = telemetry
    }

    public func serves(_ model: String) -> Bool { models.contains(model) }
}

public typealias Labels = [String: String]

extension NodeInfo {
    /// About how many bytes the node takes in a frame, never less: what a page of nodes is
    /// sized by.
    public var wireSizeEstimate: Int {
        1024 + labels.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 8 } + inventory.gpus.count * 128
            + engines.reduce(0) { $0 + 256 + $1.healthDetail.utf8.count + $1.models.reduce(0) { $0 + $1.utf8.count + 4 } }
    }
}
