public import GantryModel
public import GantryPersistence

extension CoordinatorCore {
    /// A control request. Permission was established by the handshake; the core checks
    /// it against what the request needs.
    public mutating func admin(
        _ request: AdminRequest, requestID: UInt64, session: SessionID, permission: Permission, now: Timestamp
    ) -> [CoordinatorDirective] {
        guard requestID != 0 else {
            return [.error(session, GantryError(.badRequest, "AdminRequest needs a non-zero request_id"), fatal: false)]
        }
        guard permission >= request.requiredPermission else {
            let e = GantryError(.permissionDenied, "this token is \(permission.rawValue); \(request.verb) needs an admin token")
            return [.reply(session, requestID: requestID, .failure(e))]
        }
        let (result, extra) = handle(request, requestID: requestID, session: session, now: now)
        guard let result else { return withPersistence(extra) }
        // A change is acknowledged only once it is durable.
        let mutating = request.requiredPermission == .admin
        let reply = CoordinatorDirective.reply(session, requestID: requestID, result)
        return withPersistence(sendEarly(mutating ? durable(reply) : reply, extra))
    }

    /// The store answered a query: reply, with what memory knows better overlaid (a job's
    /// state in memory is never older than the store's).
    public mutating func queryAnswered(
        session: SessionID, requestID: UInt64, query: StoreQuery, answer: Result<StoreAnswer, GantryError>
    ) -> [CoordinatorDirective] {
        let result: Result<AdminResponse, GantryError>
        switch (query, answer) {
        case (_, .failure(let e)):
            result = .failure(e)
        case (.job(let id), .success(.job(let job))):
            result = (jobs[id]?.job ?? job).map { .success(.job($0)) } ?? .failure(unknownJob(id))
        case (.jobs(let filter), .success(.jobs(let stored))):
            // The store was asked for one more than the page holds, to tell whether more follow.
            let page = stored.map { jobs[$0.id]?.job ?? $0 }
            let n = Paging.fitting(page, limit: max(1, filter.limit - 1), size: \.wireSizeEstimate)
            result = .success(.jobs(Array(page.prefix(n)), next: n < page.count ? page[n - 1].id : nil))
        case (.report(_, _, _, let after, let limit), .success(.report(let report))):
            result = .success(.report(report.page(after: after, limit: limit)))
        default:
            result = .failure(GantryError(.internal, "the store answered \(query) with something else"))
        }
        return [.reply(session, requestID: requestID, result)]
    }

    private mutating func handle(
        _ request: AdminRequest, requestID: UInt64, session: SessionID, now: Timestamp
    ) -> (Result<AdminResponse, GantryError>?, [CoordinatorDirective]) {
        switch request {
        case .status:
            return (.success(.status(status(now: now))), [])
        case .listNodes(let after, let limit):
            var ids = nodes.keys.sorted()
            if let after { ids.removeAll { $0 <= after } }
            let infos = ids.compactMap(nodeInfo)
            let n = Paging.fitting(infos, limit: limit > 0 ? limit : Paging.maxItems, size: \.wireSizeEstimate)
            return (.success(.nodes(Array(infos.prefix(n)), next: n < infos.count ? infos[n - 1].id : nil)), [])
        case .getNode(let id):
            return (nodeInfo(id).map { .success(.node($0)) } ?? .failure(unknownNode(id)), [])
        case .setNode(let id, let action):
            let (r, d) = setNode(id, action, now: now)
            return (r, d)
        case .submit(let specs, let watch):
            let (r, d) = submit(specs, now: now, watcher: watch ? Watcher(session: session, requestID: requestID) : nil)
            return (r, d)
        case .listJobs(var filter):
            // From the store, once everything decided so far is in it; one job more than
            // the page holds, to tell whether more follow.
            filter.limit = min(filter.limit > 0 ? filter.limit : 100, Paging.maxItems) + 1
            flushStarts()
            return (nil, [durable(.query(session, requestID: requestID, .jobs(filter)))])
        case .getJob(let id):
            if let record = jobs[id] { return (.success(.job(record.job)), []) }
            return (nil, [.query(session, requestID: requestID, .job(id))])
        case .cancelJob(let id):
            let (r, d) = cancel(id, now: now)
            return (r, d)
        case .watchJob(let id):
            guard let job = jobs[id]?.job else { return (.failure(unknownJob(id)), []) }
            let first = CoordinatorDirective.jobEvent(session, requestID: requestID, JobEvent(job: job, outputDelta: job.output, final: job.state.isTerminal))
            if !job.state.isTerminal { watchers[id, default: []].append(Watcher(session: session, requestID: requestID)) }
            return (nil, [first])
        case .explainJob(let id):
            return (explain(id, now: now), [])
        case .report(let q):
            // Every node's idle cost up to now goes to the store first, so the report is
            // complete to this moment.
            let from = q.from ?? Timestamp(unixMillis: 0)
            let to = q.to ?? now + 1
            guard from < to else {
                return (.failure(GantryError(.badRequest, "the report window is empty: --from must be before --to")), [])
            }
            flushIdle(now: now, olderThanMs: 0)
            return (nil, [durable(.query(session, requestID: requestID, .report(by: q.by, from: from, to: to, after: q.after, limit: q.limit)))])
        case .createApiKey:
            return (.failure(GantryError(.internal, "an API key is created with createApiKey, which the shell calls with the key")), [])
        case .listApiKeys:
            return (.success(.apiKeys(apiKeys.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }.map(\.listed))), [])
        case .revokeApiKey(let id):
            return revokeApiKey(id, now: now)
        }
    }

    public func nodeInfos() -> [NodeInfo] { nodes.keys.sorted().compactMap(nodeInfo) }

    public func status(now: Timestamp) -> ClusterStatus {
        var nodeStates: [NodeState: Int] = [:]
        var total = 0
        var used = 0
        for node in nodes.values {
            nodeStates[node.state, default: 0] += 1
            guard node.session != nil, !node.lost else { continue }
            total += node.engines.reduce(0) { $0 + ($1.healthy ? $1.slots : 0) }
            used += node.active.count
        }
        var status = ClusterStatus(
            software: settings.software, startedAt: startedAt, nodes: nodeStates,
            jobs: jobCounts.filter { $0.value > 0 }, queueDepth: queue.count,
            tokensPerSecond: throughput.rate(now: now), slotsTotal: total, slotsUsed: used
        )
        if let leadership {
            status.leaderAddress = leadership.address
            status.leaderEpoch = leadership.epoch
            status.standbys = leadership.standbys
        }
        return status
    }

    /// The shell tells the core that this coordinator leads (a PostgreSQL store with standbys):
    /// its address, epoch and the standbys it last saw, for `status`.
    public mutating func setLeadership(address: String, epoch: UInt64, standbys: [String]) {
        leadership = Leadership(address: address, epoch: epoch, standbys: standbys)
    }

    /// Validates and queues a batch, all or nothing.
    mutating func submit(_ specs: [JobSpec], now: Timestamp, watcher: Watcher? = nil) -> (Result<AdminResponse, GantryError>, [CoordinatorDirective]) {
        guard !specs.isEmpty else { return (.failure(GantryError(.badRequest, "submit carries no jobs")), []) }
        guard specs.count <= settings.maxJobsPerSubmit else {
            return (.failure(GantryError(.limitExceeded, "submit carries \(specs.count) jobs; the limit per request is \(settings.maxJobsPerSubmit)")), [])
        }
        guard queue.count + specs.count <= settings.maxQueued else {
            return (.failure(GantryError(.queueFull, "the queue holds \(queue.count) jobs and jobs.max_queued is \(settings.maxQueued); \(specs.count) more do not fit, retry later")), [])
        }
        var normalized: [JobSpec] = []
        normalized.reserveCapacity(specs.count)
        for (i, spec) in specs.enumerated() {
            switch validate(spec) {
            case .success(let s): normalized.append(s)
            case .failure(let e):
                let prefix = specs.count == 1 ? "" : "job \(i + 1) of \(specs.count): "
                return (.failure(GantryError(e.code, prefix + e.message)), [])
            }
        }
        var ids: [JobID] = []
        ids.reserveCapacity(normalized.count)
        for spec in normalized {
            let id = idGenerator.next(now: now)
            var record = JobRecord(Job(id: id, spec: spec, submittedAt: now))
            record.job.state = .queued
            jobCounts[.queued, default: 0] += 1
            jobs[id] = record
            queue.push(id, spec: spec)
            markDirty(id)
            if let watcher { watchers[id] = [watcher] }
            ids.append(id)
        }
        return (.success(.submitted(ids)), schedule(now: now))
    }

    func validate(_ spec: JobSpec) -> Result<JobSpec, GantryError> {
        var s = spec
        guard !s.model.isEmpty else { return .failure(GantryError(.badRequest, "model is empty")) }
        guard s.model.utf8.count <= 256 else { return .failure(GantryError(.badRequest, "model name is longer than 256 bytes")) }
        guard s.prompt.utf8.count <= settings.maxPromptBytes else {
            return .failure(GantryError(.limitExceeded, "prompt is \(s.prompt.utf8.count) bytes; the limit is \(settings.maxPromptBytes) (jobs.max_prompt_bytes)"))
        }
        if s.maxTokens == 0 { s.maxTokens = settings.defaultMaxTokens }
        guard s.maxTokens > 0, s.maxTokens <= settings.maxTokensLimit else {
            return .failure(GantryError(.limitExceeded, "max_tokens is \(s.maxTokens); it must be 1...\(settings.maxTokensLimit) (jobs.max_tokens_limit)"))
        }
        if s.tenant.isEmpty { s.tenant = JobSpec.defaultTenant }
        guard s.tenant.utf8.count <= 128 else { return .failure(GantryError(.badRequest, "tenant is longer than 128 bytes")) }
        for (k, v) in s.constraints where k.isEmpty || k.utf8.count > 128 || v.utf8.count > 256 {
            return .failure(GantryError(.badRequest, "constraint \(k)=\(v) is not valid (the key must be 1...128 bytes, the value at most 256)"))
        }
        if let t = s.temperature, !(t.isFinite && t >= 0 && t <= 10) {
            return .failure(GantryError(.badRequest, "temperature \(t) is out of range 0...10"))
        }
        return .success(s)
    }

    /// Cancels a queued job at once; a running one is cancelled for the user at once,
    /// while its slot stays held until the agent confirms the engine stopped.
    mutating func cancel(_ id: JobID, reason: String = "cancelled by an admin", now: Timestamp) -> (Result<AdminResponse, GantryError>, [CoordinatorDirective]) {
        guard var record = jobs[id] else { return (.failure(unknownJob(id)), []) }
        guard !record.job.state.isTerminal else {
            return (.failure(GantryError(.conflict, "job \(id) is already \(record.job.state.rawValue)")), [])
        }
        var out: [CoordinatorDirective] = []
        queue.remove(id)
        if let attempt = record.job.currentAttempt, !attempt.state.isTerminal,
            let session = nodes[attempt.node]?.session
        {
            out.append(.send(session, .cancel(AttemptRef(job: id, attempt: attempt.number), reason: reason)))
        }
        record.job.error = reason
        finish(&record, .cancelled, now: now)
        jobs[id] = record
        markDirty(id)
        out += notifyWatchers(id)
        out.append(.notice(.jobFinished(id, .cancelled, model: record.job.spec.model, tenant: record.job.spec.tenant, usage: record.job.usage)))
        return (.success(.job(record.job)), out + schedule(now: now))
    }
}

extension AdminRequest {
    var verb: String {
        switch self {
        case .status: "status"
        case .listNodes: "nodes ls"
        case .getNode: "nodes get"
        case .setNode(_, let a): "nodes \(a.rawValue)"
        case .submit: "submit"
        case .listJobs: "jobs ls"
        case .getJob: "jobs get"
        case .cancelJob: "jobs cancel"
        case .watchJob: "jobs watch"
        case .explainJob: "jobs explain"
        case .report: "report"
        case .createApiKey: "apikeys create"
        case .listApiKeys: "apikeys ls"
        case .revokeApiKey: "apikeys revoke"
        }
    }
}
