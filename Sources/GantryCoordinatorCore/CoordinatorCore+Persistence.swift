public import GantryModel
import GantryPersistence

extension CoordinatorCore {
    /// Records that a job changed in a way that must survive a restart.
    mutating func markDirty(_ id: JobID) {
        dirtyJobs.insert(id)
    }

    mutating func markDirty(node id: NodeID) {
        dirtyNodes.insert(id)
    }

    /// Records that a job's attempt started: written within `startFlushMs`, or with the
    /// job's next change. Returns the wake-up to ask for when this opens a new window.
    mutating func markStarted(_ id: JobID, now: Timestamp) -> [CoordinatorDirective] {
        startedJobs.insert(id)
        guard startsDue == nil else { return [] }
        let due = now + settings.startFlushMs
        startsDue = due
        return [.wakeUp(at: due)]
    }

    /// Hands every recorded start to the store now (at `startsDue`, before a listing read
    /// from the store, and at shutdown).
    mutating func flushStarts() {
        dirtyJobs.formUnion(startedJobs)
        startedJobs.removeAll(keepingCapacity: true)
        startsDue = nil
    }

    /// Graceful shutdown: what is recorded but not yet handed to the store, as `.persist`
    /// directives, so that the store is complete when the writer stops.
    public mutating func flushPending() -> [CoordinatorDirective] {
        flushStarts()
        return withPersistence([])
    }

    mutating func appendLedger(_ entry: LedgerEntry) {
        pendingNotices.append(.billed(entry))
        pendingLedger.append(entry)
    }

    /// Wraps a directive that must wait until everything persisted before it is durable.
    func durable(_ d: CoordinatorDirective) -> CoordinatorDirective {
        .durable(d)
    }

    /// A submit's directives: the assignments of the jobs it placed first, then its reply,
    /// then the rest (the jobs' first events).
    ///
    /// A job placed in the event that submitted it is sent to its agent ahead of its own
    /// commit, so that the commit's fsync overlaps the agent's work rather than preceding
    /// it. Nothing the client can see runs ahead of the commit: the reply waits for it, and
    /// the job's events (from the agent's accept, progress and result as well) wait behind
    /// the reply. If gantryd stops before the commit, the job was never acknowledged and
    /// is unknown after the restart: the agent's report of the attempt gets a cancel, its
    /// result an ack with nothing applied or billed. The assignment still
    /// waits behind anything held from earlier events, so messages keep their order.
    func sendEarly(_ reply: CoordinatorDirective, _ extra: [CoordinatorDirective]) -> [CoordinatorDirective] {
        var out: [CoordinatorDirective] = []
        out.reserveCapacity(extra.count + 1)
        out += extra.lazy.filter(\.isEarlyAssignment)
        out.append(reply)
        out += extra.lazy.filter { !$0.isEarlyAssignment }
        return out
    }

    /// Ends a public event: appends the changes it made, as `.persist` directives.
    mutating func withPersistence(_ out: [CoordinatorDirective]) -> [CoordinatorDirective] {
        var all = out
        if !pendingNotices.isEmpty {
            all += pendingNotices.map { .notice($0) }
            pendingNotices.removeAll(keepingCapacity: true)
        }
        guard !(dirtyJobs.isEmpty && dirtyNodes.isEmpty && pendingLedger.isEmpty && pendingIdle.isEmpty && pendingKeys.isEmpty) else { return all }
        all.reserveCapacity(out.count + dirtyJobs.count + dirtyNodes.count + pendingLedger.count)
        for id in dirtyNodes.sorted() {
            if let node = nodes[id] { all.append(.persist(.node(node.persisted))) }
        }
        for id in dirtyJobs.sorted() {
            if let index = jobs.index(forKey: id) {
                let job = jobs.values[index].job
                let stored = jobs.values[index].storedAttempts
                all.append(.persist(stored < 0 ? .job(job) : .jobUpdate(job, storedAttempts: Int(stored))))
                jobs.values[index].storedAttempts = Int32(job.attempts.count)
            }
            if !startedJobs.isEmpty { startedJobs.remove(id) }
        }
        if startedJobs.isEmpty { startsDue = nil }
        for entry in pendingLedger { all.append(.persist(.ledger(entry))) }
        for idle in pendingIdle { all.append(.persist(.idle(idle))) }
        for key in pendingKeys { all.append(.persist(.apiKey(key))) }
        pendingKeys.removeAll(keepingCapacity: true)
        pendingIdle.removeAll(keepingCapacity: true)
        dirtyJobs.removeAll(keepingCapacity: true)
        dirtyNodes.removeAll(keepingCapacity: true)
        pendingLedger.removeAll(keepingCapacity: true)
        return all
    }

    /// Rebuilds state after a restart from what the store holds: queued jobs go back in
    /// the queue; assigned and running attempts stay on their nodes, which are
    /// disconnected until their agents come back — within `ttl`, or the attempts are
    /// retried. The recent terminal jobs are kept for `jobs get/ls`; `finishedCounts` are
    /// the store's counts of every finished job, so `status` counts them all.
    public mutating func restore(
        jobs restored: [Job], nodes persisted: [PersistedNode], finishedCounts: [JobState: Int] = [:], apiKeys keys: [ApiKey] = [], now: Timestamp
    ) {
        restore(nodes: persisted, apiKeys: keys, expectedJobs: restored.count, now: now)
        restore(restored.sorted { $0.id < $1.id }, now: now)
        finishRestore(finishedCounts: finishedCounts)
    }

    /// A restart in steps, so that jobs can be taken in while the store reads more: the
    /// nodes and keys first, then the jobs in batches (`restore(_:now:)`), then
    /// `finishRestore`. `expectedJobs` reserves room for them.
    public mutating func restore(nodes persisted: [PersistedNode], apiKeys keys: [ApiKey], expectedJobs: Int, now: Timestamp) {
        for key in keys { apiKeys[key.id] = key }
        for p in persisted {
            let record = NodeRecord(persisted: p, now: now, settings: settings)
            nodes[p.id] = record
            index(record)
        }
        jobs.reserveCapacity(jobs.count + expectedJobs)
        queue.reserveCapacity(queue.count + expectedJobs)
    }

    /// A batch of restored jobs; returns how many of them are unfinished. The unfinished
    /// ones must come in id order across batches, and so must the finished ones (the
    /// queue's FIFO and the finished list depend on it); the store reads them so.
    @discardableResult
    public mutating func restore(_ batch: [Job], now: Timestamp) -> Int {
        var maxID = idGenerator.last
        var unfinished = 0
        for job in batch {
            if !job.state.isTerminal { unfinished += 1 }
            maxID = max(maxID, job.id)
            var record = JobRecord(job)
            record.storedAttempts = Int32(job.attempts.count)
            jobCounts[job.state, default: 0] += 1
            switch job.state {
            case .queued:
                queue.push(job.id, spec: job.spec)
            case .assigned, .running, .cancelled:
                if let attempt = job.currentAttempt, !attempt.state.isTerminal {
                    if nodes[attempt.node] != nil {
                        let ref = AttemptRef(job: job.id, attempt: attempt.number)
                        nodes[attempt.node]!.hold(ref, engine: attempt.engine)
                        if attempt.state == .running { nodes[attempt.node]!.meter.hold(ref, now: now) }
                        if attempt.state == .assigned { assignDeadlines.insert(ref, assignedAt: attempt.assignedAt) }
                    } else if job.state != .cancelled {
                        // The node is unknown: nothing will report this attempt; retry it.
                        record.job.attempts[record.job.attempts.count - 1].state = .lost
                        record.job.attempts[record.job.attempts.count - 1].error = "node \(attempt.node) was unknown after a coordinator restart"
                        jobCounts[job.state, default: 0] -= 1
                        jobCounts[.queued, default: 0] += 1
                        record.job.state = .queued
                        queue.push(job.id, spec: job.spec, retry: true)
                    }
                }
                if job.state == .cancelled { finishedOrder.append(job.id) }
            case .succeeded, .failed:
                finishedOrder.append(job.id)
            }
            jobs[job.id] = record
            if let key = record.job.spec.apiKeyID, !record.job.state.isTerminal { apiInflight[key, default: 0] += 1 }
        }
        idGenerator = JobIDGenerator(after: maxID)
        return unfinished
    }

    /// Ends a restart in steps. Finished jobs not loaded still count (the store knows them
    /// all); a job `restore(_:now:)` retried is not finished.
    public mutating func finishRestore(finishedCounts: [JobState: Int]) {
        for (state, n) in finishedCounts where state.isTerminal { jobCounts[state] = max(jobCounts[state] ?? 0, n) }
        capacityEpoch &+= 1
    }
}

extension NodeRecord {
    init(persisted p: PersistedNode, now: Timestamp, settings: CoordinatorSettings) {
        self.init(
            registration: Registration(nodeID: p.id, labels: p.labels, inventory: p.inventory, engines: p.engines, cost: p.cost),
            session: SessionID(0), address: "", now: now,
            cost: settings.effectiveCost(node: p.id, labels: p.labels, reported: p.cost))
        self.session = nil
        self.cordoned = p.cordoned
        self.draining = p.draining
        refreshPlacement()
    }

    var persisted: PersistedNode {
        PersistedNode(id: id, labels: labels, inventory: inventory, engines: engines, cost: cost, cordoned: cordoned, draining: draining, lastSeen: lastHeartbeat)
    }
}

extension CoordinatorDirective {
    /// An assignment not wrapped in `.durable`: a new job's (see `sendEarly`).
    var isEarlyAssignment: Bool {
        if case .send(_, .assign) = self { return true }
        return false
    }
}
