import GantryCoordinatorCore
import GantryModel
import GantryPersistence
import Testing

/// The core always says what must be durable and which messages wait for it: the shell
/// hands an event's `.persist` changes to the store as one submission and holds every
/// `.durable` message (and everything after it) until that submission is committed.
@Suite("Durability: what the core persists, and which messages wait for it")
struct DurabilityTests {
    @Test("a submit is acknowledged only once its jobs are persisted, in the same event")
    func submitAck() {
        var h = Harness()
        let (result, out) = h.request(.submit([JobSpec(model: "m", prompt: "p", maxTokens: 4)]))
        guard case .success(.submitted(let ids))? = result else { Issue.record("\(out)"); return }
        #expect(out.contains { if case .durable(.reply(_, _, .success(.submitted))) = $0 { true } else { false } })
        #expect(!out.contains { if case .reply = $0 { true } else { false } }, "the reply must not go out before the commit")
        #expect(out.persisted.contains { $0.job.map { j in j.id == ids[0] && j.state == .queued } ?? false })
    }

    @Test("an assignment of a job already in the store is sent only once its attempt (the fencing epoch) is persisted")
    func assignmentWaits() {
        var h = Harness()
        let (ids, _) = h.submit()
        let out = h.register("gpu-1", session: 1)
        let sends = out.filter { if case .send(_, .assign) = $0 { true } else { false } }
        #expect(sends.isEmpty, "an assignment went out unwrapped: \(out)")
        let wrapped = out.filter { if case .durable(.send(_, .assign)) = $0 { true } else { false } }
        #expect(wrapped.count == 1)
        let persistedJob = out.persisted.compactMap(\.job).first { $0.id == ids[0] }
        #expect(persistedJob?.state == .assigned)
        #expect(persistedJob?.attempts.last?.number == 1)
        #expect(persistedJob?.attempts.last?.node == NodeID("gpu-1"))
    }

    @Test("a job placed by its own submit goes to its agent ahead of the commit; the reply and the job's events wait for it")
    func newJobSentEarly() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (result, out) = h.request(.submit([JobSpec(model: "m", prompt: "p", maxTokens: 4)], watch: true))
        guard case .success(.submitted(let ids))? = result else { Issue.record("\(out)"); return }
        // In order: the assignment, unwrapped; the reply, durable; the job's first event after it.
        let assign = out.firstIndex { if case .send(_, .assign(let a)) = $0 { a.ref.job == ids[0] } else { false } }
        let reply = out.firstIndex { if case .durable(.reply) = $0 { true } else { false } }
        let event = out.firstIndex { if case .jobEvent = $0 { true } else { false } }
        #expect(assign != nil && reply != nil && event != nil, "\(out)")
        if let assign, let reply, let event { #expect(assign < reply && reply < event) }
        #expect(!out.contains { if case .durable(.send(_, .assign)) = $0 { true } else { false } })
        // Written in the same event, with its attempt.
        let persistedJob = out.persisted.compactMap(\.job).first { $0.id == ids[0] }
        #expect(persistedJob?.state == .assigned && persistedJob?.attempts.last?.number == 1)
    }

    @Test("an early assignment whose submit never reached the store: after a restart its agent is told to cancel it, and its result is acked, not applied or billed")
    func earlyAssignmentLostWithItsSubmit() {
        var before = Harness()
        before.register("gpu-1", session: 1)
        let (_, out) = before.submit()
        let ref = out.assignments[0].assignment.ref
        // gantryd stopped before that event's commit: the restarted one knows nothing of it.
        var after = Harness()
        after.now = before.now + 1000
        let registered = after.register("gpu-1", session: 7, running: [ref]).unwrapped.compactMap { d -> Registered? in
            if case .send(_, .registered(let r)) = d { r } else { nil }
        }
        #expect(registered.first?.cancel == [ref])
        let done = after.result(ref, session: 7)
        #expect(done.acks == [ref])
        #expect(done.persisted.isEmpty, "nothing applied, no ledger row: \(done)")
        #expect(after.core.job(ref.job) == nil)
    }

    @Test("a retried job's next assignment waits for its attempt to be persisted")
    func retryWaits() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (ids, out) = h.submit()
        let ref = out.assignments[0].assignment.ref
        let retried = h.agent(.reject(ref, reason: "busy"), session: 1)
        #expect(retried.contains { if case .durable(.send(_, .assign(let a))) = $0 { a.ref == AttemptRef(job: ids[0], attempt: 2) } else { false } }, "\(retried)")
        #expect(!retried.contains { if case .send(_, .assign) = $0 { true } else { false } })
    }

    @Test("a result is acknowledged only once the job's end and its ledger row are persisted")
    func resultAck() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (ids, out) = h.submit()
        let ref = out.assignments[0].assignment.ref
        _ = h.agent(.accept(ref), session: 1)
        let done = h.result(ref, session: 1)
        #expect(done.contains(.durable(.send(SessionID(1), .ack(ref)))))
        #expect(!done.contains(.send(SessionID(1), .ack(ref))))
        #expect(done.persisted.contains { if case .ledger(let e) = $0 { e.job == ids[0] && e.attempt == 1 } else { false } })
        #expect(done.persisted.contains { $0.job.map { j in j.id == ids[0] && j.state == .succeeded } ?? false })
    }

    @Test("a replayed result is acknowledged again, behind whatever is still being written")
    func replayAck() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (_, out) = h.submit()
        let ref = out.assignments[0].assignment.ref
        _ = h.result(ref, session: 1)
        let again = h.result(ref, session: 1)
        #expect(again == [.durable(.send(SessionID(1), .ack(ref)))])
        #expect(again.persisted.isEmpty)
    }

    @Test("an attempt's start is written within startFlushMs, not by itself at once; nothing waits for it")
    func startDeferred() {
        var h = Harness()
        let (id, _, accepted) = h.accepted()
        #expect(accepted.persisted.isEmpty, "\(accepted)")
        #expect(!accepted.contains { if case .durable = $0 { true } else { false } })
        #expect(accepted.contains(.wakeUp(at: h.now + h.core.settings.startFlushMs)))
        #expect(h.advance(h.core.settings.startFlushMs - 1).persisted.isEmpty)
        let due = h.advance(1).persisted.compactMap(\.job)
        #expect(due.map(\.id) == [id] && due.first?.state == .running && due.first?.attempts.last?.startedAt != nil)
        #expect(h.advance(h.core.settings.startFlushMs).persisted.isEmpty, "written once")
    }

    @Test("a short job's start is written with its end: two writes of the job, not three")
    func startWithEnd() {
        var h = Harness()
        let (id, ref, _) = h.accepted()
        let done = h.result(ref, session: 1).persisted.compactMap(\.job)
        #expect(done.map(\.id) == [id] && done.first?.state == .succeeded && done.first?.attempts.last?.startedAt != nil)
        #expect(!h.advance(h.core.settings.startFlushMs).persisted.contains { $0.job != nil })
    }

    @Test("a new job is handed to the store whole, then as updates that count the attempts the store holds; a restored job as updates")
    func wholeThenUpdates() {
        var h = Harness()
        let (ids, queued) = h.submit()
        #expect(queued.persisted == [.job(h.job(ids[0]))])
        h.register("gpu-1", session: 1)
        let placed = h.job(ids[0])
        let ref = AttemptRef(job: ids[0], attempt: 1)
        #expect(h.result(ref, session: 1, outcome: .failed, error: "boom").persisted.contains(.jobUpdate(h.job(ids[0]), storedAttempts: 1)),
                "the failed attempt updated, the retry (attempt 2) inserted")
        #expect(placed.attempts.count == 1 && h.job(ids[0]).attempts.count == 2)
        let done = h.result(AttemptRef(job: ids[0], attempt: 2), session: 1).persisted
        #expect(done.contains(.jobUpdate(h.job(ids[0]), storedAttempts: 2)), "\(done)")
        #expect(!done.contains { if case .job = $0 { true } else { false } })

        var core = CoordinatorCore(now: h.now)
        var restored = h.job(ids[0])
        restored.state = .running
        core.restore(jobs: [restored], nodes: [], now: h.now)
        let cancelled = core.admin(.cancelJob(restored.id), requestID: 1, session: SessionID(9), permission: .admin, now: h.now + 1)
        #expect(cancelled.persisted.allSatisfy { if case .jobUpdate(_, storedAttempts: 2) = $0 { true } else { $0.job == nil } }, "\(cancelled)")
        #expect(!cancelled.persisted.isEmpty)
    }

    @Test("a listing, read from the store, waits for the starts held back to be written")
    func listingFlushesStarts() {
        var h = Harness()
        let (id, _, _) = h.accepted()
        let (_, listed) = h.request(.listJobs(JobFilter(state: .running)), permission: .readOnly)
        #expect(listed.persisted.contains { $0.job.map { j in j.id == id && j.state == .running } ?? false })
        // In the same event: the query waits for that write to be durable.
        #expect(listed.contains { if case .durable(.query) = $0 { true } else { false } }, "\(listed)")
    }

    @Test("an attempt the store left assigned, which the agent says it runs, is adopted as running, not taken back")
    func adoptedRuns() {
        var settings = CoordinatorSettings()
        settings.assignTimeoutMs = 2000
        var h = Harness(settings: settings)
        h.register("gpu-1", session: 1)
        let (ids, out) = h.submit()
        let ref = out.assignments[0].assignment.ref
        let again = h.register("gpu-1", session: 2, running: [ref])
        #expect(h.job(ids[0]).state == .running && h.job(ids[0]).attempts.last?.startedAt == h.now)
        #expect(again.contains(.wakeUp(at: h.now + settings.startFlushMs)))
        _ = h.advance(1500)
        _ = h.heartbeat(session: 2)
        let later = h.advance(1000)
        #expect(!later.contains { if case .send(_, .cancel) = $0 { true } else { false } }, "\(later)")
        #expect(h.job(ids[0]).state == .running && h.job(ids[0]).attempts.count == 1)
    }

    @Test("at shutdown, the starts held back are handed to the store")
    func shutdownFlushes() {
        var h = Harness()
        let (id, _, _) = h.accepted()
        let flushed = h.core.flushPending()
        #expect(flushed.persisted.contains { $0.job.map { j in j.id == id && j.state == .running } ?? false })
        #expect(h.core.flushPending().persisted.isEmpty)
    }

    @Test("reads change nothing: no persist, no durable wait")
    func readsPersistNothing() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (_, out) = h.request(.status, permission: .readOnly)
        #expect(out.persisted.isEmpty)
        #expect(!out.contains { if case .durable = $0 { true } else { false } })
    }

    @Test("a node's registration and a cordon are persisted")
    func nodesPersisted() {
        var h = Harness()
        let reg = h.register("gpu-1", session: 1)
        #expect(reg.persisted.contains { if case .node(let n) = $0 { n.id == NodeID("gpu-1") } else { false } })
        let (_, out) = h.request(.setNode(NodeID("gpu-1")!, .cordon))
        #expect(out.persisted.contains { if case .node(let n) = $0 { n.cordoned } else { false } })
    }
}
