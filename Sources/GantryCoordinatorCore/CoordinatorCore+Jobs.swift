public import GantryModel
import GantryAccounting

extension CoordinatorCore {
    /// A message from a registered agent's session.
    public mutating func agentMessage(_ message: AgentMessage, session: SessionID, now: Timestamp) -> [CoordinatorDirective] {
        withPersistence(handleAgentMessage(message, session: session, now: now))
    }

    mutating func handleAgentMessage(_ message: AgentMessage, session: SessionID, now: Timestamp) -> [CoordinatorDirective] {
        guard let id = sessionNodes[session] else {
            if case .register = message {
                return [.error(session, GantryError(.unexpectedMessage, "Register must be handled by agentRegistered"), fatal: true)]
            }
            return [.error(session, GantryError(.unexpectedMessage, "send Register before any other agent message"), fatal: true)]
        }
        switch message {
        case .register:
            return [.error(session, GantryError(.unexpectedMessage, "node \(id) is already registered on this session"), fatal: false)]
        case .heartbeat(let hb):
            return heartbeat(hb, from: id, now: now)
        case .accept(let ref):
            return accept(ref, from: id, session: session, now: now)
        case .reject(let ref, let reason):
            return reject(ref, reason: reason, from: id, session: session, now: now) + schedule(now: now)
        case .progress(let p):
            return progress(p, from: id, session: session, now: now)
        case .result(let r):
            return result(r, from: id, session: session, now: now) + schedule(now: now)
        }
    }

    /// Whether `ref` is the current, unfinished attempt of its job, on node `id`.
    func isCurrent(_ ref: AttemptRef, on id: NodeID) -> Bool {
        guard let attempt = jobs[ref.job]?.currentAttempt else { return false }
        return attempt.number == ref.attempt && attempt.node == id && !attempt.state.isTerminal
    }

    private func stale(_ ref: AttemptRef, from id: NodeID, session: SessionID, what: String) -> [CoordinatorDirective] {
        let why: String
        if let job = jobs[ref.job]?.job {
            if let current = job.currentAttempt, current.number != ref.attempt {
                why = "job \(ref.job) attempt \(ref.attempt) is superseded by attempt \(current.number)"
            } else if job.state.isTerminal {
                why = "job \(ref.job) is already \(job.state.rawValue)"
            } else {
                why = "job \(ref.job) attempt \(ref.attempt) is not running on node \(id)"
            }
        } else {
            why = "job \(ref.job) is not known"
        }
        return [
            .error(session, GantryError(.staleAttempt, "\(what) refused: \(why)"), fatal: false),
            .notice(.staleMessage(ref, node: id, what: what)),
        ]
    }

    mutating func accept(_ ref: AttemptRef, from id: NodeID, session: SessionID, now: Timestamp) -> [CoordinatorDirective] {
        guard isCurrent(ref, on: id) else { return stale(ref, from: id, session: session, what: "accept") }
        guard let started = start(ref, on: id, now: now) else { return [] }
        return started + notifyWatchers(ref.job)
    }

    /// A current attempt's start (assigned → running): by the agent's accept, its first
    /// progress, or its registration saying it runs one the store left assigned. Nil when
    /// it had started already.
    mutating func start(_ ref: AttemptRef, on id: NodeID, now: Timestamp) -> [CoordinatorDirective]? {
        let index = jobs.index(forKey: ref.job)!
        guard jobs.values[index].startAttempt(now: now) else { return nil }
        if jobs.values[index].job.state != .cancelled { setState(at: index, .running) }
        nodes[id]?.meter.hold(ref, now: now)
        return markStarted(ref.job, now: now)
    }

    mutating func reject(_ ref: AttemptRef, reason: String, from id: NodeID, session: SessionID, now: Timestamp) -> [CoordinatorDirective] {
        guard isCurrent(ref, on: id) else { return stale(ref, from: id, session: session, what: "reject") }
        return endAttempt(ref, as: .rejected, reason: "node \(id) refused it: \(reason)", now: now)
    }

    mutating func progress(_ p: JobProgress, from id: NodeID, session: SessionID, now: Timestamp) -> [CoordinatorDirective] {
        guard isCurrent(p.ref, on: id) else { return stale(p.ref, from: id, session: session, what: "progress") }
        let started = start(p.ref, on: id, now: now) ?? []
        var record = jobs[p.ref.job]!
        let room = settings.maxOutputBytes - record.job.output.utf8.count
        let delta = room <= 0 ? "" : truncateUTF8(p.outputDelta, to: room)
        record.job.output += delta
        record.job.usage.completionTokens = max(record.job.usage.completionTokens, p.completionTokens)
        if record.job.firstTokenAt == nil, let t = p.firstTokenAt { record.job.firstTokenAt = t }
        jobs[p.ref.job] = record
        return started + notifyWatchers(p.ref.job, delta: delta)
    }

    /// An attempt's result. Applied at most once per (job, attempt); always acked, so the
    /// agent can drop it from its spool, even when it is stale or a duplicate.
    mutating func result(_ r: AttemptResult, from id: NodeID, session: SessionID, now: Timestamp) -> [CoordinatorDirective] {
        let ack = durable(.send(session, .ack(r.ref)))
        guard let index = jobs.index(forKey: r.ref.job) else { return [ack] }
        if let attempt = jobs.values[index].job.attempts.first(where: { $0.number == r.ref.attempt }), attempt.state.isTerminal,
            attempt.node == id, attempt.state != .lost, attempt.state != .rejected
        {
            return [ack]  // a replay of a result already applied
        }
        guard isCurrent(r.ref, on: id) else { return stale(r.ref, from: id, session: session, what: "result") + [ack] }
        let wasCancelled = jobs.values[index].job.state == .cancelled

        var out: [CoordinatorDirective] = []
        let state: AttemptState
        switch r.outcome {
        case .succeeded: state = .succeeded
        case .cancelled: state = .cancelled
        case .failed: state = .failed
        }
        // In place: a copy taken out of the table would share the job's arrays with it, so
        // the first change to each would copy it.
        let maxOutputBytes = settings.maxOutputBytes
        Self.apply(r, to: &jobs.values[index], maxOutputBytes: maxOutputBytes)
        throughput.add(r.usage.completionTokens, now: now)

        let reason: String? =
            switch r.outcome {
            case .succeeded: nil
            case .failed: "engine error on \(id): \(r.error ?? "unknown")"
            case .cancelled: wasCancelled ? "cancelled" : "stopped by the agent on \(id): \(r.error ?? "no reason given")"
            }
        out += endAttempt(r.ref, as: state, reason: reason, now: now, finishedAt: r.finishedAt, result: r)
        out.append(ack)
        return out
    }

    /// What a result tells about its job, before its attempt ends.
    private static func apply(_ r: AttemptResult, to updated: inout JobRecord, maxOutputBytes: Int) {
        let i = updated.job.attempts.count - 1
        // The agent timed both ends of the run: its start replaces the time its accept was
        // read here, which a busy coordinator reads after the run has ended (so the start
        // would follow the end).
        let acceptedAt = updated.job.attempts[i].startedAt
        updated.job.attempts[i].startedAt = r.startedAt
        if updated.job.startedAt == nil || updated.job.startedAt == acceptedAt { updated.job.startedAt = r.startedAt }
        updated.job.usage = r.usage
        updated.job.simulated = r.simulated
        updated.job.finishReason = r.finishReason
        if let t = r.firstTokenAt { updated.job.firstTokenAt = t }
        if r.outcome == .succeeded || r.outcome == .cancelled {
            // Watchers have the streamed text (the output so far); they get the rest with the
            // final event, or the whole text again if it does not continue what they have.
            let streamed = updated.job.output
            updated.job.output = truncateUTF8(r.output, to: maxOutputBytes)
            if updated.job.output.utf8.starts(with: streamed.utf8) {
                updated.unsentOutput = String(decoding: updated.job.output.utf8.dropFirst(streamed.utf8.count), as: UTF8.self)
            } else {
                updated.unsentOutput = updated.job.output
                updated.outputReset = true
            }
        }
    }

    /// Ends the current attempt of a job and frees its slot, then decides the job's fate:
    /// success, a retry, or failure once `maxAttempts` failed or lost attempts are spent.
    mutating func endAttempt(
        _ ref: AttemptRef, as state: AttemptState, reason: String?, now: Timestamp, finishedAt: Timestamp? = nil,
        result: AttemptResult? = nil
    ) -> [CoordinatorDirective] {
        guard let index = jobs.index(forKey: ref.job),
            let i = jobs.values[index].job.attempts.lastIndex(where: { $0.number == ref.attempt })
        else { return [] }
        let attempt = jobs.values[index].job.attempts[i]
        let node = attempt.node
        let released = nodes.update(node) { n in (freed: n.release(ref), charge: n.meter.release(ref, now: now)) }
        if released?.freed == true { capacityEpoch &+= 1 }
        let charge = released.flatMap(\.charge)
        guard !attempt.state.isTerminal else { return [] }
        markDirty(ref.job)
        let engine = attempt.engine
        // Out of the table while it changes beside the rest of the core (so its box is not
        // copied), and back in it (`jobs[ref.job] = record`) before anything reads it.
        var record = jobs.values[index].take()
        if let r = result {
            bill(r, charge: charge ?? SlotCharge(), on: node, engine: engine, job: &record)
        } else {
            // A slot held with nothing delivered (the node was lost): the node bears it; the
            // tokens it reported are Gantry's all the same (for the token cross-check).
            let tokens = Int64(record.job.usage.completionTokens)
            nodes.update(node) { n in
                if let charge { n.meter.addToIdle(charge) }
                n.accountedTokens[engine, default: 0] += tokens
            }
        }
        record.job.attempts[i].state = state
        record.job.attempts[i].error = reason
        record.job.attempts[i].finishedAt = finishedAt ?? now
        var out: [CoordinatorDirective] = [.notice(.attemptEnded(ref, node: node, state: state, reason: reason))]

        if record.job.state == .cancelled {
            // The user cancelled; this only frees the slot.
            jobs[ref.job] = record
            out += notifyWatchers(ref.job)
            return out + drainedCheck(node)
        }
        switch state {
        case .succeeded:
            record.job.error = nil
            finish(&record, .succeeded, now: finishedAt ?? now)
        case .rejected:
            record.job.attempts[i].error = reason
            let assignments = record.job.attempts.count
            if assignments >= maxAssignments {
                record.job.error = "gave up after \(assignments) assignments were refused or lost; last: \(reason ?? "")"
                finish(&record, .failed, now: now)
            } else {
                requeue(&record)
            }
        case .failed, .lost, .cancelled:
            let spent = record.job.attempts.filter { [.failed, .lost, .cancelled].contains($0.state) }.count
            if record.job.spec.interactive, record.job.firstTokenAt != nil || !record.job.output.isEmpty {
                // A live request whose client has seen text: a new attempt would write other text.
                record.job.error = "the attempt ended after streaming text to the client (\(reason ?? state.rawValue)); a live request is not retried"
                finish(&record, .failed, now: now)
            } else if spent >= settings.maxAttempts {
                record.job.error = "failed after \(spent) attempt(s); last: \(reason ?? state.rawValue)"
                finish(&record, .failed, now: now)
            } else {
                requeue(&record)
            }
        case .assigned, .running:
            break
        }
        jobs[ref.job] = record
        out += notifyWatchers(ref.job)
        if record.job.state.isTerminal {
            out.append(.notice(.jobFinished(ref.job, record.job.state, model: record.job.spec.model, tenant: record.job.spec.tenant, usage: record.job.usage)))
        }
        return out + drainedCheck(node)
    }

    /// The receipt for an attempt that reported a result: its slot charge, plus its energy
    /// priced at its node. Added to the job's receipt and written to the ledger.
    mutating func bill(_ r: AttemptResult, charge: SlotCharge, on node: NodeID, engine: String, job record: inout JobRecord) {
        let energy = Int64(clamping: r.energyMillijoules)
        // Learn the engine's speed per sequence, for the cost scorer.
        let seconds = Double(r.finishedAt - (r.firstTokenAt ?? r.startedAt)) / 1000
        let observed = r.outcome == .succeeded && r.usage.completionTokens > 1 && seconds > 0.001 ? Double(r.usage.completionTokens) / seconds : nil
        // One look-up of the node for all of it.
        let billed = nodes.update(node) { n in
            n.accountedTokens[engine, default: 0] += Int64(r.usage.completionTokens)
            if let observed { n.observedTPS[engine] = n.observedTPS[engine].map { 0.8 * $0 + 0.2 * observed } ?? observed }
            return (pool: n.pool, energyMicroUSD: n.meter.price(millijoules: energy))
        }
        guard let billed else { return }
        let receipt = Receipt(
            promptTokens: r.usage.promptTokens, completionTokens: r.usage.completionTokens, wallMs: max(0, r.finishedAt - r.startedAt),
            slotMs: charge.slotMs, busyMicros: charge.busyMicros, energyMillijoules: energy, energyMeasured: r.energyMeasured,
            depreciationMicroUSD: charge.depreciationMicroUSD, energyMicroUSD: billed.energyMicroUSD,
            overheadMicroUSD: charge.overheadMicroUSD)
        record.job.receipt = record.job.receipt.map { $0 + receipt } ?? receipt
        if let i = record.job.attempts.lastIndex(where: { $0.number == r.ref.attempt }) { record.job.attempts[i].receipt = receipt }
        appendLedger(LedgerEntry(
            job: r.ref.job, attempt: r.ref.attempt, node: node, engine: engine, model: record.job.spec.model,
            tenant: record.job.spec.tenant, outcome: r.outcome, promptTokens: r.usage.promptTokens,
            completionTokens: r.usage.completionTokens, tokensEstimated: r.usage.estimated, startedAt: r.startedAt,
            finishedAt: r.finishedAt, pool: billed.pool, receipt: receipt))
    }

    /// Assignments (accepted or not) a job may get before it fails: rejections do not
    /// count against `maxAttempts`, but must not loop forever.
    var maxAssignments: Int { settings.maxAttempts * 4 + 8 }

    private mutating func requeue(_ record: inout JobRecord) {
        record.job.output = ""
        record.unsentOutput = ""
        record.outputReset = true
        record.job.usage = Usage()
        record.job.firstTokenAt = nil
        setState(&record, .queued)
        queue.push(record.job.id, spec: record.job.spec, retry: true)
    }

    mutating func finish(_ record: inout JobRecord, _ state: JobState, now: Timestamp) {
        if let key = record.job.spec.apiKeyID, !record.job.state.isTerminal, let n = apiInflight[key] {
            apiInflight[key] = n > 1 ? n - 1 : nil
        }
        setState(&record, state)
        record.job.finishedAt = now
        finishedOrder.append(record.job.id)
        pruneFinished()
    }

    /// `setState` for a record changed in place in the table.
    mutating func setState(at index: [JobID: JobRecord].Index, _ state: JobState) {
        guard recount(from: jobs.values[index].job.state, to: state) else { return }
        jobs.values[index].job.state = state
    }

    mutating func setState(_ record: inout JobRecord, _ state: JobState) {
        guard recount(from: record.job.state, to: state) else { return }
        record.job.state = state
    }

    /// Moves a job from one state's count to another's; false when the state is unchanged.
    private mutating func recount(from old: JobState, to new: JobState) -> Bool {
        guard old != new else { return false }
        jobCounts[old, default: 0] -= 1
        jobCounts[new, default: 0] += 1
        return true
    }

    /// Forgets the oldest finished jobs past `finishedJobsInMemory` (the store keeps them).
    /// Their counts stay: `status` counts every job this coordinator has seen finish.
    private mutating func pruneFinished() {
        while finishedOrder.count > settings.finishedJobsInMemory, let id = finishedOrder.popFirst() {
            if let record = jobs[id], record.job.state.isTerminal, watchers[id] == nil {
                jobs[id] = nil
            }
        }
    }

    private func drainedCheck(_ id: NodeID) -> [CoordinatorDirective] {
        guard nodes[id]?.draining == true, nodes[id]?.active.isEmpty == true else { return [] }
        return [.notice(.nodeStateChanged(id, .drained))]
    }

    /// Assignments not accepted within `assignTimeoutMs` are taken back: the slot is
    /// forgotten, the agent is told to drop it, and the job is placed again.
    mutating func expireAssignments(now: Timestamp) -> [CoordinatorDirective] {
        var out: [CoordinatorDirective] = []
        while let oldest = assignDeadlines.oldest, now - oldest.assignedAt > settings.assignTimeoutMs {
            assignDeadlines.removeOldest()
            // The entry's time is its attempt's `assignedAt`: overdue if it still awaits.
            guard let attempt = awaitingAccept(oldest.ref) else { continue }
            if let session = nodes[attempt.node]?.session {
                out.append(.send(session, .cancel(oldest.ref, reason: "not accepted within \(settings.assignTimeoutMs) ms")))
            }
            out += endAttempt(oldest.ref, as: .rejected, reason: "node \(attempt.node) did not accept it within \(settings.assignTimeoutMs) ms", now: now)
        }
        // Accepted or ended since: not due for anything.
        while let oldest = assignDeadlines.oldest, awaitingAccept(oldest.ref) == nil { assignDeadlines.removeOldest() }
        return out
    }

    /// The attempt, if it is its job's current one, still assigned (not accepted), and its
    /// node holds a slot for it.
    func awaitingAccept(_ ref: AttemptRef) -> Attempt? {
        guard let attempt = jobs[ref.job]?.job.attempts.last, attempt.number == ref.attempt, attempt.state == .assigned,
            nodes[attempt.node]?.active[ref] != nil
        else { return nil }
        return attempt
    }

    /// Tells the job's watchers about its new state and the text since the last event; the
    /// final event ends the watch. What watchers receive, concatenated since the last reset,
    /// is always the job's output.
    mutating func notifyWatchers(_ id: JobID, delta: String = "") -> [CoordinatorDirective] {
        guard let index = jobs.index(forKey: id) else { return [] }
        let list = watchers[id]
        // Read in place (no copy of the record is kept), so the change below is in place too.
        let event = list.map { _ in
            JobEvent(
                job: jobs.values[index].job, outputDelta: jobs.values[index].unsentOutput + delta,
                final: jobs.values[index].job.state.isTerminal, outputReset: jobs.values[index].outputReset)
        }
        if !jobs.values[index].unsentOutput.isEmpty || jobs.values[index].outputReset {
            jobs.values[index].unsentOutput = ""
            jobs.values[index].outputReset = false
        }
        guard let list, let event else { return [] }
        if event.final { watchers[id] = nil }
        return list.map { .jobEvent($0.session, requestID: $0.requestID, event) }
    }
}

/// The longest prefix of `s` that fits in `limit` UTF-8 bytes without splitting a character.
func truncateUTF8(_ s: String, to limit: Int) -> String {
    guard s.utf8.count > limit else { return s }
    var end = s.utf8.index(s.utf8.startIndex, offsetBy: max(0, limit))
    while end > s.utf8.startIndex, end.samePosition(in: s.unicodeScalars) == nil { end = s.utf8.index(before: end) }
    return String(s[..<end])
}
