import GantryModel
public import GantryPlacement

extension CoordinatorCore {
    /// Places queued jobs while some node has room, best job first.
    ///
    /// A shape (model + constraints) that finds no node is skipped for the rest of the
    /// pass, and not tried again until capacity grows, so a blocked model costs one
    /// decision per capacity change rather than one per event.
    mutating func schedule(now: Timestamp) -> [CoordinatorDirective] {
        guard !queue.isEmpty else { return [] }
        var out: [CoordinatorDirective] = []
        var skipping = Set(blockedShapes.compactMap { $0.value == capacityEpoch ? $0.key : nil })
        var placed = false
        while let (id, shape) = queue.peek(skipping: skipping) {
            // The record is changed in place in the table, never copied out (see `JobRecord`).
            guard let index = jobs.index(forKey: id) else {
                queue.remove(id)
                continue
            }
            let spec = jobs.values[index].job.spec
            let prefix = settings.weights.prefixAffinity > 0 ? PrefixTable.key(spec.prompt, bytes: settings.prefixBytes) : nil
            let request = PlacementRequest(spec, affinity: prefix.flatMap { prefixes[spec.model]?.engine(for: $0) })
            let decision = decide(request)
            guard let nodeID = decision.node, let engine = decision.engine, let session = nodes[nodeID]?.session else {
                jobs.values[index].lastMiss = decision.rejections.isEmpty
                    ? "no node serves model \(request.model)" : decision.summary
                skipping.insert(shape)
                blockedShapes[shape] = capacityEpoch
                continue
            }
            queue.pop(id)
            blockedShapes[shape] = nil
            let ref = AttemptRef(job: id, attempt: (jobs.values[index].job.attempts.last?.number ?? 0) + 1)
            // Submitted in this event: nothing about it is in the store yet (see `sendEarly`).
            let early = jobs.values[index].job.attempts.isEmpty && dirtyJobs.contains(id)
            jobs.values[index].place(Attempt(number: ref.attempt, node: nodeID, engine: engine, assignedAt: now), ranking: decision.ranking, at: now)
            setState(at: index, .assigned)
            let submittedAt = jobs.values[index].job.submittedAt
            nodes[nodeID]!.hold(ref, engine: engine)
            assignDeadlines.insert(ref, assignedAt: now)
            if let prefix {
                prefixes[request.model, default: PrefixTable(capacity: settings.prefixesPerModel)].set(prefix, EngineRef(node: nodeID, engine: engine))
            }
            markDirty(id)
            // The assignment (its attempt number is the fencing epoch) is durable before it
            // is sent, except a new job's, which goes ahead of its own commit.
            let assign = CoordinatorDirective.send(session, .assign(Assignment(ref: ref, engine: engine, spec: spec, submittedAt: submittedAt)))
            out.append(early ? assign : durable(assign))
            out.append(.notice(.jobPlaced(ref, node: nodeID, engine: engine)))
            placed = true
            out += notifyWatchers(id)
        }
        // An assignment not accepted in time is taken back by `tick`.
        if placed { out.append(.wakeUp(at: now + settings.assignTimeoutMs + 1)) }
        return out
    }

    /// One placement decision, as `schedule` makes it, without assigning anything (the
    /// benchmarks call it directly). It scores at most `placement.max_candidates` feasible
    /// nodes, starting where the last decision for the model stopped, so successive
    /// decisions spread over the ring and each costs O(limit + rejected nodes) however
    /// large the cluster.
    public mutating func decide(_ request: PlacementRequest) -> PlacementDecision {
        guard let ring = nodesByModel[request.model] else { return pipeline.decide([], for: request) }
        let limit = settings.maxCandidates > 0 ? settings.maxCandidates : Int.max
        var slots = ring.rotated
        let decision = pipeline.decide(for: request, limit: limit) {
            while let slot = slots.next() { if let view = nodes.views[Int(slot)] { return view } }
            return nil
        }
        nodesByModel[request.model]!.advance(by: decision.visited)
        return decision
    }

    /// Runs the whole pipeline for a job against every node, with reasons.
    func explain(_ id: JobID, now: Timestamp) -> Result<AdminResponse, GantryError> {
        guard let record = jobs[id] else { return .failure(unknownJob(id)) }
        let all = nodes.values.sorted { $0.id < $1.id }.map(\.placement)
        let spec = record.job.spec
        let affinity = prefixes[spec.model]?.engine(for: PrefixTable.key(spec.prompt, bytes: settings.prefixBytes))
        let decision = pipeline.decide(all, for: PlacementRequest(spec, affinity: affinity), explain: true)
        return .success(.explanation(Explanation(
            job: id, jobState: record.job.state, evaluatedAt: now,
            verdicts: decision.verdicts.sorted { $0.node < $1.node },
            wouldChoose: decision.node,
            placedOn: record.placedAt == nil ? nil : record.job.currentAttempt?.node,
            placedCandidates: record.placedCandidates.verdicts, placedAt: record.placedAt,
            weights: pipeline.weights
        )))
    }

    func unknownJob(_ id: JobID) -> GantryError {
        GantryError(.notFound, "job \(id) is not known to this coordinator")
    }
}
