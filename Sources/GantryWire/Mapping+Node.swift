import GantryModel

extension NodeState {
    init(_ p: Gantry_V1_NodeState) {
        switch p {
        case .ready: self = .ready
        case .cordoned: self = .cordoned
        case .draining: self = .draining
        case .drained: self = .drained
        default: self = .lost
        }
    }

    var proto: Gantry_V1_NodeState {
        switch self {
        case .ready: .ready
        case .cordoned: .cordoned
        case .draining: .draining
        case .drained: .drained
        case .lost: .lost
        }
    }
}

extension Inventory {
    init(_ p: Gantry_V1_Inventory) {
        self.init(
            hostname: p.hostname, cpus: Int(p.cpus), cpuModel: p.cpuModel, memoryBytes: p.memoryBytes,
            gpus: p.gpus.map { GPU(index: Int($0.index), uuid: $0.uuid, name: $0.name, memoryBytes: $0.memoryBytes, migEnabled: $0.migEnabled) },
            gpuSource: GPUSource(rawValue: p.gpuSource) ?? .none, kernel: p.kernel)
    }

    var proto: Gantry_V1_Inventory {
        .with {
            $0.hostname = hostname
            $0.cpus = UInt32(clamping: cpus)
            $0.cpuModel = cpuModel
            $0.memoryBytes = memoryBytes
            $0.gpus = gpus.map { g in
                .with {
                    $0.index = UInt32(clamping: g.index)
                    $0.uuid = g.uuid
                    $0.name = g.name
                    $0.memoryBytes = g.memoryBytes
                    $0.migEnabled = g.migEnabled
                }
            }
            $0.gpuSource = gpuSource.rawValue
            $0.kernel = kernel
        }
    }
}

extension EngineStatus {
    init(_ p: Gantry_V1_Engine) throws(GantryError) {
        let kind: EngineKind
        switch p.kind {
        case .openai: kind = .openai
        case .exec: kind = .exec
        case .sim: kind = .sim
        default: throw GantryError(.badRequest, "engine '\(p.name)' has no known kind")
        }
        self.init(
            name: p.name, kind: kind, models: p.models, slots: Int(p.slots), slotsUsed: Int(p.slotsUsed),
            healthy: p.healthy, endpoint: p.endpoint, healthDetail: p.healthDetail,
            telemetry: p.hasTelemetry ? EngineTelemetry(p.telemetry) : nil)
    }

    var proto: Gantry_V1_Engine {
        .with {
            $0.name = name
            $0.kind =
                switch kind {
                case .openai: .openai
                case .exec: .exec
                case .sim: .sim
                }
            $0.models = models
            $0.slots = UInt32(clamping: slots)
            $0.slotsUsed = UInt32(clamping: slotsUsed)
            $0.healthy = healthy
            $0.endpoint = endpoint
            $0.healthDetail = healthDetail
            if let telemetry { $0.telemetry = telemetry.proto }
        }
    }
}

extension EngineTelemetry {
    init(_ p: Gantry_V1_EngineTelemetry) {
        let source: Source? =
            switch p.source {
            case .llamacpp: .llamacpp
            case .vllm: .vllm
            case .sglang: .sglang
            default: nil
            }
        self.init(
            source: source, running: p.hasRunning ? Int(p.running) : nil, waiting: p.hasWaiting ? Int(p.waiting) : nil,
            // A figure outside 0...1 (or NaN) from a peer is unknown, not trusted.
            kvUsage: p.hasKvUsage && (0...1).contains(p.kvUsage) ? p.kvUsage : nil,
            promptTokens: p.hasPromptTokens ? p.promptTokens : nil, generationTokens: p.hasGenerationTokens ? p.generationTokens : nil,
            cachedPromptTokens: p.hasCachedPromptTokens ? p.cachedPromptTokens : nil,
            scrapedAt: p.scrapedAtUnixMs > 0 ? Timestamp(unixMillis: p.scrapedAtUnixMs) : nil, failures: Int(p.failures),
            gantryRunning: Int(p.gantryRunning))
    }

    var proto: Gantry_V1_EngineTelemetry {
        .with {
            $0.source =
                switch source {
                case .llamacpp: .llamacpp
                case .vllm: .vllm
                case .sglang: .sglang
                case nil: .unspecified
                }
            if let running { $0.running = UInt32(clamping: running) }
            if let waiting { $0.waiting = UInt32(clamping: waiting) }
            if let kvUsage { $0.kvUsage = kvUsage }
            if let promptTokens { $0.promptTokens = promptTokens }
            if let generationTokens { $0.generationTokens = generationTokens }
            if let cachedPromptTokens { $0.cachedPromptTokens = cachedPromptTokens }
            $0.scrapedAtUnixMs = scrapedAt?.unixMillis ?? 0
            $0.failures = UInt32(clamping: failures)
            $0.gantryRunning = UInt32(clamping: gantryRunning)
        }
    }
}

extension CostProfile {
    init(_ p: Gantry_V1_CostProfile) {
        self.init(
            kind: p.kind == .cloud ? .cloud : .owned, purchaseMicroUSD: p.purchaseMicroUsd, residualMicroUSD: p.residualMicroUsd,
            lifetimeSeconds: p.lifetimeSeconds, overheadMicroUSDPerHour: p.overheadMicroUsdPerHour,
            electricityMicroUSDPerKWh: p.electricityMicroUsdPerKwh, pueMilli: Int64(p.pueMilli == 0 ? 1000 : p.pueMilli),
            idleMilliwatts: Int64(p.idleMilliwatts), busyMilliwatts: Int64(p.busyMilliwatts),
            cloudMicroUSDPerHour: p.cloudMicroUsdPerHour)
    }

    var proto: Gantry_V1_CostProfile {
        .with {
            $0.kind = kind == .cloud ? .cloud : .owned
            $0.purchaseMicroUsd = purchaseMicroUSD
            $0.residualMicroUsd = residualMicroUSD
            $0.lifetimeSeconds = lifetimeSeconds
            $0.overheadMicroUsdPerHour = overheadMicroUSDPerHour
            $0.electricityMicroUsdPerKwh = electricityMicroUSDPerKWh
            $0.pueMilli = UInt32(clamping: pueMilli)
            $0.idleMilliwatts = UInt32(clamping: idleMilliwatts)
            $0.busyMilliwatts = UInt32(clamping: busyMilliwatts)
            $0.cloudMicroUsdPerHour = cloudMicroUSDPerHour
        }
    }
}

extension Registration {
    init(_ p: Gantry_V1_Register) throws(GantryError) {
        var engines: [EngineStatus] = []
        for e in p.engines { engines.append(try EngineStatus(e)) }
        var running: [AttemptRef] = []
        for r in p.running { running.append(try AttemptRef(job: r.jobID, attempt: r.attempt)) }
        var spooled: [AttemptRef] = []
        for r in p.spooled { spooled.append(try AttemptRef(job: r.jobID, attempt: r.attempt)) }
        self.init(
            nodeID: try parseNodeID(p.nodeID, field: "Register.node_id"), labels: p.labels, inventory: Inventory(p.inventory),
            engines: engines, cost: CostProfile(p.cost), running: running, spooled: spooled, software: p.software)
        heartbeatAcks = p.heartbeatAcks
    }

    var proto: Gantry_V1_Register {
        .with {
            $0.nodeID = nodeID.rawValue
            $0.labels = labels
            $0.inventory = inventory.proto
            $0.engines = engines.map(\.proto)
            $0.cost = cost.proto
            $0.running = running.map(\.proto)
            $0.spooled = spooled.map(\.proto)
            $0.software = software
            $0.heartbeatAcks = heartbeatAcks
        }
    }
}

extension Registered {
    init(_ p: Gantry_V1_Registered) throws(GantryError) {
        var cancel: [AttemptRef] = []
        for r in p.cancel { cancel.append(try AttemptRef(job: r.jobID, attempt: r.attempt)) }
        self.init(nodeID: try parseNodeID(p.nodeID, field: "Registered.node_id"), state: NodeState(p.state), cancel: cancel)
        heartbeatAcks = p.heartbeatAcks
    }

    var proto: Gantry_V1_Registered {
        .with {
            $0.nodeID = nodeID.rawValue
            $0.state = state.proto
            $0.cancel = cancel.map(\.proto)
            $0.heartbeatAcks = heartbeatAcks
        }
    }
}

extension Heartbeat {
    init(_ p: Gantry_V1_Heartbeat) throws(GantryError) {
        var engines: [EngineStatus] = []
        for e in p.engines { engines.append(try EngineStatus(e)) }
        let s = p.stats
        let stats = HostStats(
            gpus: s.gpus.map {
                GPUStats(
                    index: Int($0.index), utilizationPercent: Int($0.utilizationPercent), powerMilliwatts: Int($0.powerMilliwatts),
                    energyMillijoules: $0.energyMillijoules == 0 ? nil : $0.energyMillijoules, memoryUsedBytes: $0.memoryUsedBytes)
            },
            gpuEnergy: s.gpuEnergy.measured ? EnergyCounter(millijoules: s.gpuEnergy.millijoules, sources: Int(s.gpuEnergy.sources)) : nil,
            cpuEnergy: s.cpuEnergy.measured ? EnergyCounter(millijoules: s.cpuEnergy.millijoules, sources: Int(s.cpuEnergy.sources)) : nil,
            load1: s.load1, memoryAvailableBytes: s.memoryAvailableBytes, totalEnergyMillijoules: s.totalEnergyMillijoules,
            idleEnergyMillijoules: s.idleEnergyMillijoules, energyMeasured: s.energyMeasured)
        self.init(seq: p.seq, sentAt: Timestamp(unixMillis: p.sentAtUnixMs), engines: engines, stats: stats)
    }

    var proto: Gantry_V1_Heartbeat {
        .with {
            $0.seq = seq
            $0.sentAtUnixMs = sentAt.unixMillis
            $0.engines = engines.map(\.proto)
            $0.stats = .with { s in
                s.gpus = stats.gpus.map { g in
                    .with {
                        $0.index = UInt32(clamping: g.index)
                        $0.utilizationPercent = UInt32(clamping: g.utilizationPercent)
                        $0.powerMilliwatts = UInt32(clamping: g.powerMilliwatts)
                        $0.energyMillijoules = g.energyMillijoules ?? 0
                        $0.memoryUsedBytes = g.memoryUsedBytes
                    }
                }
                if let e = stats.gpuEnergy { s.gpuEnergy = e.proto }
                if let e = stats.cpuEnergy { s.cpuEnergy = e.proto }
                s.load1 = stats.load1
                s.memoryAvailableBytes = stats.memoryAvailableBytes
                s.totalEnergyMillijoules = stats.totalEnergyMillijoules
                s.idleEnergyMillijoules = stats.idleEnergyMillijoules
                s.energyMeasured = stats.energyMeasured
            }
        }
    }
}

extension EnergyCounter {
    var proto: Gantry_V1_EnergyCounter {
        .with {
            $0.measured = true
            $0.millijoules = millijoules
            $0.sources = UInt32(clamping: sources)
        }
    }
}
