import GantryModel

extension JobSpec {
    init(_ p: Gantry_V1_JobSpec) {
        self.init(
            model: p.model, prompt: p.prompt, maxTokens: Int(p.maxTokens), priority: Int(p.priority), tenant: p.tenant,
            constraints: p.constraints, temperature: p.hasTemperature ? p.temperature : nil, seed: p.hasSeed ? p.seed : nil,
            timeoutMs: Int(p.timeoutMs), kind: JobKind(p.kind), messages: p.messagesJson, stop: p.stop,
            topP: p.hasTopP ? p.topP : nil, interactive: p.interactive, apiKeyID: p.apiKeyID.isEmpty ? nil : p.apiKeyID)
    }

    var proto: Gantry_V1_JobSpec {
        .with {
            $0.model = model
            $0.prompt = prompt
            $0.maxTokens = UInt32(clamping: maxTokens)
            $0.priority = Int32(clamping: priority)
            $0.tenant = tenant
            $0.constraints = constraints
            if let t = temperature { $0.temperature = t }
            if let s = seed { $0.seed = s }
            $0.timeoutMs = UInt32(clamping: timeoutMs)
            $0.kind = kind.proto
            $0.messagesJson = messages
            $0.stop = stop
            if let p = topP { $0.topP = p }
            $0.interactive = interactive
            $0.apiKeyID = apiKeyID ?? ""
        }
    }
}

extension JobKind {
    init(_ p: Gantry_V1_JobKind) {
        switch p {
        case .chat: self = .chat
        default: self = .completion
        }
    }

    var proto: Gantry_V1_JobKind { self == .chat ? .chat : .completion }
}

extension Assignment {
    init(_ p: Gantry_V1_JobAssign) throws(GantryError) {
        let spec = JobSpec(
            model: p.model, prompt: p.prompt, maxTokens: Int(p.maxTokens), tenant: p.tenant,
            temperature: p.hasTemperature ? p.temperature : nil, seed: p.hasSeed ? p.seed : nil, timeoutMs: Int(p.timeoutMs),
            kind: JobKind(p.kind), messages: p.messagesJson, stop: p.stop, topP: p.hasTopP ? p.topP : nil, interactive: p.stream)
        self.init(ref: try AttemptRef(job: p.jobID, attempt: p.attempt), engine: p.engine, spec: spec, submittedAt: Timestamp(unixMillis: p.submittedAtUnixMs))
    }

    var proto: Gantry_V1_JobAssign {
        .with {
            $0.jobID = ref.job.description
            $0.attempt = ref.attempt
            $0.engine = engine
            $0.model = spec.model
            $0.prompt = spec.prompt
            $0.maxTokens = UInt32(clamping: spec.maxTokens)
            $0.tenant = spec.tenant
            $0.timeoutMs = UInt32(clamping: spec.timeoutMs)
            $0.submittedAtUnixMs = submittedAt.unixMillis
            if let t = spec.temperature { $0.temperature = t }
            if let s = spec.seed { $0.seed = s }
            $0.kind = spec.kind.proto
            $0.messagesJson = spec.messages
            $0.stop = spec.stop
            if let p = spec.topP { $0.topP = p }
            $0.stream = spec.interactive
        }
    }
}

extension JobProgress {
    init(_ p: Gantry_V1_JobProgress) throws(GantryError) {
        self.init(
            ref: try AttemptRef(job: p.jobID, attempt: p.attempt), outputDelta: p.outputDelta,
            completionTokens: Int(p.completionTokens), firstTokenAt: timestamp(p.firstTokenAtUnixMs))
    }

    var proto: Gantry_V1_JobProgress {
        .with {
            $0.jobID = ref.job.description
            $0.attempt = ref.attempt
            $0.outputDelta = outputDelta
            $0.completionTokens = UInt32(clamping: completionTokens)
            $0.firstTokenAtUnixMs = firstTokenAt?.unixMillis ?? 0
        }
    }
}

extension Usage {
    init(_ p: Gantry_V1_Usage) {
        self.init(promptTokens: Int(p.promptTokens), completionTokens: Int(p.completionTokens), estimated: p.estimated)
    }

    var proto: Gantry_V1_Usage {
        .with {
            $0.promptTokens = UInt32(clamping: promptTokens)
            $0.completionTokens = UInt32(clamping: completionTokens)
            $0.estimated = estimated
        }
    }
}

extension AttemptResult {
    init(_ p: Gantry_V1_JobResult) throws(GantryError) {
        let outcome: Outcome
        switch p.outcome {
        case .succeeded: outcome = .succeeded
        case .failed: outcome = .failed
        case .cancelled: outcome = .cancelled
        default: throw GantryError(.badRequest, "JobResult for \(p.jobID)#\(p.attempt) has no outcome")
        }
        self.init(
            ref: try AttemptRef(job: p.jobID, attempt: p.attempt), outcome: outcome, output: p.output, usage: Usage(p.usage),
            error: p.error.isEmpty ? nil : p.error, engine: p.engine, startedAt: Timestamp(unixMillis: p.startedAtUnixMs),
            firstTokenAt: timestamp(p.firstTokenAtUnixMs), finishedAt: Timestamp(unixMillis: p.finishedAtUnixMs),
            simulated: p.simulated, energyMillijoules: p.energyMillijoules, energyMeasured: p.energyMeasured,
            outputTruncated: p.outputTruncated, finishReason: p.finishReason.isEmpty ? nil : p.finishReason)
    }

    var proto: Gantry_V1_JobResult {
        .with {
            $0.jobID = ref.job.description
            $0.attempt = ref.attempt
            $0.outcome =
                switch outcome {
                case .succeeded: .succeeded
                case .failed: .failed
                case .cancelled: .cancelled
                }
            $0.output = output
            $0.usage = usage.proto
            $0.error = error ?? ""
            $0.startedAtUnixMs = startedAt.unixMillis
            $0.firstTokenAtUnixMs = firstTokenAt?.unixMillis ?? 0
            $0.finishedAtUnixMs = finishedAt.unixMillis
            $0.engine = engine
            $0.simulated = simulated
            $0.energyMillijoules = energyMillijoules
            $0.energyMeasured = energyMeasured
            $0.outputTruncated = outputTruncated
            $0.finishReason = finishReason ?? ""
        }
    }
}

extension Receipt {
    init(_ p: Gantry_V1_Receipt) {
        self.init(
            promptTokens: Int(p.promptTokens), completionTokens: Int(p.completionTokens), wallMs: p.wallMs, slotMs: p.slotMs,
            busyMicros: p.busyMicros,
            energyMillijoules: Int64(clamping: p.energyMillijoules), energyMeasured: p.energyMeasured,
            depreciationMicroUSD: p.depreciationMicroUsd, energyMicroUSD: p.energyMicroUsd, overheadMicroUSD: p.overheadMicroUsd)
    }

    var proto: Gantry_V1_Receipt {
        .with {
            $0.promptTokens = UInt32(clamping: promptTokens)
            $0.completionTokens = UInt32(clamping: completionTokens)
            $0.wallMs = wallMs
            $0.slotMs = slotMs
            $0.busyMicros = busyMicros
            $0.energyMillijoules = UInt64(clamping: energyMillijoules)
            $0.energyMeasured = energyMeasured
            $0.depreciationMicroUsd = depreciationMicroUSD
            $0.energyMicroUsd = energyMicroUSD
            $0.overheadMicroUsd = overheadMicroUSD
            $0.totalMicroUsd = totalMicroUSD
        }
    }
}

extension Job {
    init(_ p: Gantry_V1_JobInfo) throws(GantryError) {
        self.init(id: try parseJobID(p.jobID), spec: JobSpec(p.spec), submittedAt: Timestamp(unixMillis: p.submittedAtUnixMs))
        guard let state = JobState(rawValue: p.state) else {
            throw GantryError(.badRequest, "job \(p.jobID) has unknown state '\(p.state)'")
        }
        self.state = state
        var attempts: [Attempt] = []
        for a in p.attempts {
            attempts.append(Attempt(
                number: a.attempt, node: try parseNodeID(a.nodeID, field: "AttemptInfo.node_id"), engine: a.engine,
                state: AttemptState(rawValue: a.state) ?? .failed, error: a.error.isEmpty ? nil : a.error,
                assignedAt: Timestamp(unixMillis: a.assignedAtUnixMs), startedAt: timestamp(a.startedAtUnixMs),
                finishedAt: timestamp(a.finishedAtUnixMs), receipt: a.hasReceipt ? Receipt(a.receipt) : nil))
        }
        self.attempts = attempts
        self.usage = Usage(p.usage)
        self.output = p.output
        self.error = p.error.isEmpty ? nil : p.error
        self.startedAt = timestamp(p.startedAtUnixMs)
        self.finishedAt = timestamp(p.finishedAtUnixMs)
        self.firstTokenAt = timestamp(p.firstTokenAtUnixMs)
        self.simulated = p.simulated
        self.receipt = p.hasReceipt ? Receipt(p.receipt) : nil
        self.finishReason = p.finishReason.isEmpty ? nil : p.finishReason
    }

    var proto: Gantry_V1_JobInfo {
        .with {
            $0.jobID = id.description
            $0.state = state.rawValue
            $0.spec = spec.proto
            $0.nodeID = node?.rawValue ?? ""
            $0.attempts = attempts.map { a in
                .with {
                    $0.attempt = a.number
                    $0.nodeID = a.node.rawValue
                    $0.engine = a.engine
                    $0.state = a.state.rawValue
                    $0.error = a.error ?? ""
                    $0.assignedAtUnixMs = a.assignedAt.unixMillis
                    $0.startedAtUnixMs = a.startedAt?.unixMillis ?? 0
                    $0.finishedAtUnixMs = a.finishedAt?.unixMillis ?? 0
                    if let r = a.receipt { $0.receipt = r.proto }
                }
            }
            $0.usage = usage.proto
            $0.output = output
            $0.error = error ?? ""
            $0.submittedAtUnixMs = submittedAt.unixMillis
            $0.startedAtUnixMs = startedAt?.unixMillis ?? 0
            $0.finishedAtUnixMs = finishedAt?.unixMillis ?? 0
            $0.firstTokenAtUnixMs = firstTokenAt?.unixMillis ?? 0
            $0.simulated = simulated
            $0.finishReason = finishReason ?? ""
            if let r = receipt {
                $0.receipt = r.proto
                $0.costMicroUsd = r.totalMicroUSD
                $0.energyMillijoules = UInt64(clamping: r.energyMillijoules)
                $0.energyMeasured = r.energyMeasured
            }
        }
    }
}
