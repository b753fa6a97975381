import GantryModel

extension AdminRequest {
    init(_ p: Gantry_V1_AdminRequest) throws(GantryError) {
        guard let request = p.request else {
            let fields = WireEnvelope.unknownFieldNumbers(Array(p.unknownFields.data))
            guard fields.isEmpty else {
                throw GantryError(.unsupported, "AdminRequest carries a request this gantryd does not know (field \(fields.map(String.init).joined(separator: ", "))): the client is newer; upgrade gantryd to use it")
            }
            throw GantryError(.badRequest, "AdminRequest carries no request")
        }
        switch request {
        case .status: self = .status
        case .listNodes(let r):
            let after: NodeID? = r.pageToken.isEmpty ? nil : try parseNodeID(r.pageToken, field: "page_token")
            self = .listNodes(after: after, limit: Int(r.limit))
        case .getNode(let r): self = .getNode(try parseNodeID(r.nodeID, field: "node"))
        case .setNode(let r):
            let action: NodeAction
            switch r.action {
            case .cordon: action = .cordon
            case .uncordon: action = .uncordon
            case .drain: action = .drain
            case .unspecified: throw GantryError(.badRequest, "SetNodeRequest names no action (cordon, uncordon or drain)")
            case .UNRECOGNIZED(let n): throw GantryError(.unsupported, "SetNodeRequest action \(n) is not one this gantryd knows: the client is newer; upgrade gantryd to use it")
            }
            self = .setNode(try parseNodeID(r.nodeID, field: "node"), action)
        case .submit(let r): self = .submit(r.jobs.map(JobSpec.init), watch: r.watch)
        case .listJobs(let r):
            var filter = JobFilter(limit: Int(r.limit))
            if !r.state.isEmpty {
                guard let s = JobState(rawValue: r.state) else {
                    throw GantryError(.badRequest, "state '\(r.state)' is not a job state (\(JobState.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                filter.state = s
            }
            if !r.tenant.isEmpty { filter.tenant = r.tenant }
            if !r.nodeID.isEmpty { filter.node = try parseNodeID(r.nodeID, field: "node") }
            if !r.pageToken.isEmpty { filter.before = try parseJobID(r.pageToken, field: "page_token") }
            self = .listJobs(filter)
        case .getJob(let r): self = .getJob(try parseJobID(r.jobID))
        case .cancelJob(let r): self = .cancelJob(try parseJobID(r.jobID))
        case .watchJob(let r): self = .watchJob(try parseJobID(r.jobID))
        case .explainJob(let r): self = .explainJob(try parseJobID(r.jobID))
        case .report(let r):
            guard let by = ReportQuery.GroupBy(rawValue: r.by.isEmpty ? "node" : r.by) else {
                throw GantryError(.badRequest, "report by '\(r.by)' is not one of node, pool, model, tenant")
            }
            self = .report(ReportQuery(
                by: by, from: timestamp(r.fromUnixMs), to: timestamp(r.toUnixMs), after: r.pageToken.isEmpty ? nil : r.pageToken,
                limit: Int(r.limit)))
        case .createApiKey(let r): self = .createApiKey(ApiKeySpec(r.spec))
        case .listApiKeys: self = .listApiKeys
        case .revokeApiKey(let r):
            guard !r.id.isEmpty else { throw GantryError(.badRequest, "RevokeApiKeyRequest names no key id") }
            self = .revokeApiKey(r.id)
        }
    }

    var proto: Gantry_V1_AdminRequest {
        .with {
            switch self {
            case .status: $0.status = .init()
            case .listNodes(let after, let limit):
                $0.listNodes = .with {
                    $0.pageToken = after?.rawValue ?? ""
                    $0.limit = UInt32(clamping: limit)
                }
            case .getNode(let id): $0.getNode = .with { $0.nodeID = id.rawValue }
            case .setNode(let id, let action):
                $0.setNode = .with {
                    $0.nodeID = id.rawValue
                    $0.action =
                        switch action {
                        case .cordon: .cordon
                        case .uncordon: .uncordon
                        case .drain: .drain
                        }
                }
            case .submit(let specs, let watch):
                $0.submit = .with {
                    $0.jobs = specs.map(\.proto)
                    $0.watch = watch
                }
            case .listJobs(let f):
                $0.listJobs = .with {
                    $0.state = f.state?.rawValue ?? ""
                    $0.tenant = f.tenant ?? ""
                    $0.limit = UInt32(clamping: f.limit)
                    $0.nodeID = f.node?.rawValue ?? ""
                    $0.pageToken = f.before?.description ?? ""
                }
            case .getJob(let id): $0.getJob = .with { $0.jobID = id.description }
            case .cancelJob(let id): $0.cancelJob = .with { $0.jobID = id.description }
            case .watchJob(let id): $0.watchJob = .with { $0.jobID = id.description }
            case .explainJob(let id): $0.explainJob = .with { $0.jobID = id.description }
            case .report(let q):
                $0.report = .with {
                    $0.by = q.by.rawValue
                    $0.fromUnixMs = q.from?.unixMillis ?? 0
                    $0.toUnixMs = q.to?.unixMillis ?? 0
                    $0.pageToken = q.after ?? ""
                    $0.limit = UInt32(clamping: q.limit)
                }
            case .createApiKey(let spec): $0.createApiKey = .with { $0.spec = spec.proto }
            case .listApiKeys: $0.listApiKeys = .init()
            case .revokeApiKey(let id): $0.revokeApiKey = .with { $0.id = id }
            }
        }
    }
}

extension AdminResponse {
    init(_ p: Gantry_V1_AdminResponse) throws(GantryError) {
        guard let response = p.response else { throw GantryError(.badRequest, "AdminResponse carries no response") }
        switch response {
        case .status(let s): self = .status(ClusterStatus(s))
        case .nodes(let l):
            var nodes: [NodeInfo] = []
            for n in l.nodes { nodes.append(try NodeInfo(n)) }
            self = .nodes(nodes, next: l.nextPageToken.isEmpty ? nil : try parseNodeID(l.nextPageToken, field: "next_page_token"))
        case .node(let n): self = .node(try NodeInfo(n))
        case .submit(let s):
            var ids: [JobID] = []
            for s in s.jobIds { ids.append(try parseJobID(s)) }
            self = .submitted(ids)
        case .jobs(let l):
            var jobs: [Job] = []
            for j in l.jobs { jobs.append(try Job(j)) }
            self = .jobs(jobs, next: l.nextPageToken.isEmpty ? nil : try parseJobID(l.nextPageToken, field: "next_page_token"))
        case .job(let j): self = .job(try Job(j))
        case .explanation(let e): self = .explanation(try Explanation(e))
        case .report(let r): self = .report(try Report(r))
        case .apiKey(let k): self = .apiKey(ApiKey(k), key: k.key.isEmpty ? nil : k.key)
        case .apiKeys(let l): self = .apiKeys(l.keys.map(ApiKey.init))
        }
    }

    var proto: Gantry_V1_AdminResponse {
        .with {
            switch self {
            case .status(let s): $0.status = s.proto
            case .nodes(let n, let next):
                $0.nodes = .with {
                    $0.nodes = n.map(\.proto)
                    $0.nextPageToken = next?.rawValue ?? ""
                }
            case .node(let n): $0.node = n.proto
            case .submitted(let ids): $0.submit = .with { $0.jobIds = ids.map(\.description) }
            case .jobs(let j, let next):
                $0.jobs = .with {
                    $0.jobs = j.map(\.proto)
                    $0.nextPageToken = next?.description ?? ""
                }
            case .job(let j): $0.job = j.proto
            case .explanation(let e): $0.explanation = e.proto
            case .report(let r): $0.report = r.proto
            case .apiKey(let k, let key):
                $0.apiKey = k.proto
                $0.apiKey.key = key ?? ""
            case .apiKeys(let keys): $0.apiKeys = .with { $0.keys = keys.map(\.proto) }
            }
        }
    }
}

extension ClusterStatus {
    init(_ p: Gantry_V1_StatusResponse) {
        var nodes: [NodeState: Int] = [:]
        for (k, v) in p.nodes { if let s = NodeState(rawValue: k) { nodes[s] = Int(v) } }
        var jobs: [JobState: Int] = [:]
        for (k, v) in p.jobs { if let s = JobState(rawValue: k) { jobs[s] = Int(v) } }
        self.init(
            software: p.software, startedAt: Timestamp(unixMillis: p.startedAtUnixMs), nodes: nodes, jobs: jobs,
            queueDepth: Int(p.queueDepth), tokensPerSecond: p.tokensPerSecond, slotsTotal: Int(p.slotsTotal), slotsUsed: Int(p.slotsUsed))
        leaderAddress = p.leaderAddress
        leaderEpoch = p.leaderEpoch
        standbys = p.standbys
    }

    var proto: Gantry_V1_StatusResponse {
        .with {
            $0.software = software
            $0.startedAtUnixMs = startedAt.unixMillis
            $0.nodes = Dictionary(uniqueKeysWithValues: nodes.map { ($0.key.rawValue, UInt32(clamping: $0.value)) })
            $0.jobs = Dictionary(uniqueKeysWithValues: jobs.map { ($0.key.rawValue, UInt64(clamping: $0.value)) })
            $0.queueDepth = UInt64(clamping: queueDepth)
            $0.tokensPerSecond = tokensPerSecond
            $0.slotsTotal = UInt32(clamping: slotsTotal)
            $0.slotsUsed = UInt32(clamping: slotsUsed)
            $0.leaderAddress = leaderAddress
            $0.leaderEpoch = leaderEpoch
            $0.standbys = standbys
        }
    }
}

extension NodeInfo {
    init(_ p: Gantry_V1_NodeInfo) throws(GantryError) {
        var engines: [EngineStatus] = []
        for e in p.engines { engines.append(try EngineStatus(e)) }
        self.init(
            id: try parseNodeID(p.nodeID, field: "NodeInfo.node_id"), state: NodeState(p.state), labels: p.labels,
            inventory: Inventory(p.inventory), engines: engines, cost: CostProfile(p.cost),
            costMicroUSDPerHour: p.costMicroUsdPerHour, lastHeartbeat: timestamp(p.lastHeartbeatUnixMs),
            connectedAt: timestamp(p.connectedAtUnixMs), address: p.address, cordoned: p.cordoned, draining: p.draining,
            runningAttempts: Int(p.runningAttempts))
    }

    var proto: Gantry_V1_NodeInfo {
        .with {
            $0.nodeID = id.rawValue
            $0.state = state.proto
            $0.labels = labels
            $0.inventory = inventory.proto
            $0.engines = engines.map(\.proto)
            $0.costMicroUsdPerHour = costMicroUSDPerHour
            $0.lastHeartbeatUnixMs = lastHeartbeat?.unixMillis ?? 0
            $0.connectedAtUnixMs = connectedAt?.unixMillis ?? 0
            $0.address = address
            $0.cordoned = cordoned
            $0.draining = draining
            $0.runningAttempts = UInt32(clamping: runningAttempts)
            $0.cost = cost.proto
        }
    }
}

extension NodeVerdict {
    init(_ p: Gantry_V1_NodeVerdict) throws(GantryError) {
        self.init(
            node: try parseNodeID(p.nodeID, field: "NodeVerdict.node_id"),
            rejection: p.feasible ? nil : Rejection(filter: p.filter, reason: p.reason),
            scores: p.scores, total: p.total, engine: p.engine)
    }

    var proto: Gantry_V1_NodeVerdict {
        .with {
            $0.nodeID = node.rawValue
            $0.feasible = feasible
            $0.reason = rejection?.reason ?? ""
            $0.filter = rejection?.filter ?? ""
            $0.scores = scores
            $0.total = total
            $0.engine = engine
        }
    }
}

extension Explanation {
    init(_ p: Gantry_V1_Explanation) throws(GantryError) {
        var verdicts: [NodeVerdict] = []
        for v in p.verdicts { verdicts.append(try NodeVerdict(v)) }
        var placed: [NodeVerdict] = []
        for v in p.placedCandidates { placed.append(try NodeVerdict(v)) }
        self.init(
            job: try parseJobID(p.jobID), jobState: JobState(rawValue: p.jobState) ?? .queued,
            evaluatedAt: Timestamp(unixMillis: p.evaluatedAtUnixMs), verdicts: verdicts,
            wouldChoose: p.wouldChoose.isEmpty ? nil : try parseNodeID(p.wouldChoose, field: "would_choose"),
            placedOn: p.placedOn.isEmpty ? nil : try parseNodeID(p.placedOn, field: "placed_on"),
            placedCandidates: placed, placedAt: timestamp(p.placedAtUnixMs), weights: p.weights)
    }

    var proto: Gantry_V1_Explanation {
        .with {
            $0.jobID = job.description
            $0.jobState = jobState.rawValue
            $0.evaluatedAtUnixMs = evaluatedAt.unixMillis
            $0.verdicts = verdicts.map(\.proto)
            $0.wouldChoose = wouldChoose?.rawValue ?? ""
            $0.placedOn = placedOn?.rawValue ?? ""
            $0.placedCandidates = placedCandidates.map(\.proto)
            $0.placedAtUnixMs = placedAt?.unixMillis ?? 0
            $0.weights = weights
        }
    }
}

extension ReportRow {
    init(_ p: Gantry_V1_ReportRow) {
        self.init(
            key: p.key, attempts: Int64(p.jobs), promptTokens: Int64(clamping: p.promptTokens),
            completionTokens: Int64(clamping: p.completionTokens), busyMs: Int64((p.busySeconds * 1000).rounded()),
            idleMs: Int64((p.idleSeconds * 1000).rounded()), spendMicroUSD: p.spendMicroUsd, idleMicroUSD: p.idleMicroUsd,
            energyMillijoules: Int64(clamping: p.energyMillijoules), energyMeasured: p.energyMeasured,
            windowMs: Int64((p.windowSeconds * 1000).rounded()))
        outsideTokens = Int64(clamping: p.outsideTokens)
    }

    var proto: Gantry_V1_ReportRow {
        .with {
            $0.key = key
            $0.jobs = UInt32(clamping: attempts)
            $0.tokens = UInt64(clamping: tokens)
            $0.promptTokens = UInt64(clamping: promptTokens)
            $0.completionTokens = UInt64(clamping: completionTokens)
            $0.busySeconds = Double(busyMs) / 1000
            $0.idleSeconds = Double(idleMs) / 1000
            $0.utilization = utilization
            $0.spendMicroUsd = spendMicroUSD
            $0.idleMicroUsd = idleMicroUSD
            $0.usdPerMtokAllocation = usdPerMTokAllocation
            $0.usdPerMtokUsage = usdPerMTokUsage
            $0.energyMillijoules = UInt64(clamping: energyMillijoules)
            $0.joulesPerToken = joulesPerToken
            $0.outsideTokens = UInt64(clamping: outsideTokens)
            $0.energyMeasured = energyMeasured
            $0.tokensPerSecond = tokensPerSecond
            $0.windowSeconds = Double(windowMs) / 1000
        }
    }
}

extension Report {
    init(_ p: Gantry_V1_Report) throws(GantryError) {
        guard let by = ReportQuery.GroupBy(rawValue: p.by) else { throw GantryError(.badRequest, "report by '\(p.by)' is not known") }
        self.init(
            by: by, from: Timestamp(unixMillis: p.fromUnixMs), to: Timestamp(unixMillis: p.toUnixMs),
            rows: p.rows.map(ReportRow.init), total: ReportRow(p.total), next: p.nextPageToken.isEmpty ? nil : p.nextPageToken)
    }

    var proto: Gantry_V1_Report {
        .with {
            $0.by = by.rawValue
            $0.fromUnixMs = from.unixMillis
            $0.toUnixMs = to.unixMillis
            $0.rows = rows.map(\.proto)
            $0.total = total.proto
            $0.nextPageToken = next ?? ""
        }
    }
}

extension ApiKeySpec {
    init(_ p: Gantry_V1_ApiKeySpec) {
        self.init(tenant: p.tenant, priority: Int(p.priority), models: p.models, name: p.name, maxInflight: Int(p.maxInflight))
    }

    var proto: Gantry_V1_ApiKeySpec {
        .with {
            $0.tenant = tenant
            $0.priority = Int32(clamping: priority)
            $0.models = models
            $0.name = name
            $0.maxInflight = UInt32(clamping: maxInflight)
        }
    }
}

extension ApiKey {
    /// A key as the wire shows it: never its secret's hash.
    init(_ p: Gantry_V1_ApiKeyInfo) {
        self.init(
            id: p.id, spec: ApiKeySpec(p.spec), secretHash: [], createdAt: Timestamp(unixMillis: p.createdAtUnixMs),
            revokedAt: timestamp(p.revokedAtUnixMs))
    }

    var proto: Gantry_V1_ApiKeyInfo {
        .with {
            $0.id = id
            $0.spec = spec.proto
            $0.createdAtUnixMs = createdAt.unixMillis
            $0.revokedAtUnixMs = revokedAt?.unixMillis ?? 0
        }
    }
}
