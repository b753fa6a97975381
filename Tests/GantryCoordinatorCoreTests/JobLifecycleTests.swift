import GantryCoordinatorCore
import GantryModel
import Testing

@Suite("Job lifecycle")
struct JobLifecycleTests {
    @Test("submit → assigned → running → succeeded, with the result acked")
    func happyPath() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (ids, out) = h.submit()
        #expect(out.assignments.count == 1)
        let ref = out.assignments[0].assignment.ref
        #expect(ref == AttemptRef(job: ids[0], attempt: 1))
        #expect(h.job(ids[0]).state == .assigned)
        _ = h.agent(.accept(ref), session: 1)
        #expect(h.job(ids[0]).state == .running)
        let done = h.result(ref, session: 1)
        #expect(done.acks == [ref])
        let job = h.job(ids[0])
        #expect(job.state == .succeeded)
        #expect(job.usage.completionTokens == 8)
        #expect(job.output == "out")
    }

    @Test("slots are assumed at decision time and never over-committed")
    func noOverCommit() {
        var h = Harness()
        h.register("gpu-1", session: 1, slots: 2)
        h.register("gpu-2", session: 2, slots: 1)
        let (ids, out) = h.submit(5)
        #expect(out.assignments.count == 3)
        #expect(ids.filter { h.job($0).state == .queued }.count == 2)
        // Freeing one slot places exactly one more job.
        let more = h.result(out.assignments[0].assignment.ref, session: out.assignments[0].session.rawValue)
        #expect(more.assignments.count == 1)
    }

    @Test("with a candidate limit, decisions rotate over the nodes and never over-commit")
    func candidateLimitRotates() {
        var settings = CoordinatorSettings()
        settings.maxCandidates = 2
        var h = Harness(settings: settings)
        for i in 1...6 { h.register("n\(i)", session: UInt64(i), slots: 2) }
        let (ids, out) = h.submit(14)
        // Every slot fills, on every node, though each decision scored only two nodes.
        #expect(out.assignments.count == 12)
        #expect(Set(out.assignments.map(\.session)).count == 6)
        #expect(ids.filter { h.job($0).state == .queued }.count == 2)
        // The cursor moves past the nodes each decision looked at, so the first six
        // decisions went to six different nodes.
        #expect(Set(out.assignments.prefix(6).map(\.session)).count == 6)
    }

    @Test("finished jobs pruned from memory still count in status")
    func prunedJobsStillCount() {
        var settings = CoordinatorSettings()
        settings.finishedJobsInMemory = 2
        var h = Harness(settings: settings)
        h.register("gpu-1", session: 1, slots: 8)
        let (ids, out) = h.submit(5)
        for a in out.assignments { _ = h.result(a.assignment.ref, session: 1) }
        #expect(h.core.count(of: .succeeded) == 5)
        #expect(h.core.status(now: .zero).jobs[.succeeded] == 5)
        #expect(h.core.job(ids[0]) == nil, "the oldest finished job is pruned from memory")
        #expect(h.core.job(ids[4])?.state == .succeeded)
    }

    @Test("a result from a superseded attempt is refused, and still acked")
    func staleResult() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (ids, out) = h.submit()
        let first = out.assignments[0].assignment.ref
        // The node is lost; the job is retried on another node.
        h.register("gpu-2", session: 2)
        _ = h.advance(6_000)
        _ = h.heartbeat(session: 2)
        _ = h.advance(5_000)
        #expect(h.core.nodeState(NodeID("gpu-1")!) == .lost)
        let retry = h.job(ids[0]).currentAttempt!
        #expect(retry.number == 2 && retry.node == NodeID("gpu-2"))
        // gpu-1 comes back and reports its old attempt's result: refused, acked.
        h.register("gpu-1", session: 3, spooled: [first])
        let late = h.result(first, session: 3)
        #expect(late.errors.first?.code == .staleAttempt)
        #expect(late.acks == [first])
        #expect(h.job(ids[0]).state != .succeeded)
        // The current attempt's result is applied.
        _ = h.result(AttemptRef(job: ids[0], attempt: 2), session: 2)
        #expect(h.job(ids[0]).state == .succeeded)
        #expect(h.job(ids[0]).attempts.map(\.state) == [.lost, .succeeded])
    }

    @Test("a duplicate result is acked and applied once")
    func duplicate() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (ids, out) = h.submit()
        let ref = out.assignments[0].assignment.ref
        _ = h.result(ref, session: 1, tokens: 8)
        let again = h.result(ref, session: 1, tokens: 999)
        #expect(again.acks == [ref])
        #expect(again.errors.isEmpty)
        #expect(h.job(ids[0]).usage.completionTokens == 8)
    }

    @Test("engine errors are retried up to max_attempts, keeping each reason")
    func retries() {
        var settings = CoordinatorSettings()
        settings.maxAttempts = 3
        var h = Harness(settings: settings)
        h.register("gpu-1", session: 1)
        let (ids, out) = h.submit()
        var ref = out.assignments[0].assignment.ref
        for n in 1...3 {
            let next = h.result(ref, session: 1, outcome: .failed, error: "boom \(n)")
            if n < 3 { ref = next.assignments[0].assignment.ref }
        }
        let job = h.job(ids[0])
        #expect(job.state == .failed)
        #expect(job.attempts.map(\.error) == ["engine error on gpu-1: boom 1", "engine error on gpu-1: boom 2", "engine error on gpu-1: boom 3"])
        #expect(job.error?.contains("failed after 3 attempt(s)") == true)
    }

    @Test("a refusal frees the slot and places the job again without spending an attempt")
    func rejected() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        h.register("gpu-2", session: 2)
        let (ids, out) = h.submit()
        let a = out.assignments[0]
        let again = h.agent(.reject(a.assignment.ref, reason: "engine warming up"), session: a.session.rawValue)
        #expect(again.assignments.count == 1)
        let job = h.job(ids[0])
        #expect(job.attempts.first?.state == .rejected)
        #expect(job.attempts.count == 2)
        #expect(job.state == .assigned)
    }

    @Test("an assignment not accepted in time is taken back and placed again")
    func assignTimeout() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (ids, _) = h.submit()
        _ = h.heartbeat(session: 1)
        _ = h.advance(9_000)
        _ = h.heartbeat(session: 1)
        let out = h.advance(1_001)
        #expect(out.cancels.count == 1)
        #expect(out.assignments.count == 1)
        #expect(h.job(ids[0]).attempts.first?.state == .rejected)
    }

    @Test("an attempt's start is the agent's, so it never follows its end when the accept is read late")
    func startFromTheAgent() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (ids, out) = h.submit()
        let ref = out.assignments[0].assignment.ref
        let ranFrom = h.now + 1, ranTo = h.now + 5
        _ = h.advance(50)  // a busy coordinator reads the accept after the run ended
        _ = h.agent(.accept(ref), session: 1)
        #expect(h.job(ids[0]).attempts[0].startedAt == h.now)
        _ = h.agent(.result(AttemptResult(
            ref: ref, outcome: .succeeded, output: "out", usage: Usage(promptTokens: 2, completionTokens: 8),
            engine: "e", startedAt: ranFrom, finishedAt: ranTo)), session: 1)
        let job = h.job(ids[0])
        #expect(job.attempts[0].startedAt == ranFrom)
        #expect(job.attempts[0].finishedAt == ranTo)
        #expect(job.startedAt == ranFrom)
        #expect(job.finishedAt == ranTo)
    }

    @Test("only assignments still awaiting their accept are taken back, each at its own deadline")
    func assignTimeoutPerAssignment() {
        var h = Harness()  // assignTimeoutMs 10,000
        h.register("gpu-1", session: 1, slots: 4)
        let (first, out1) = h.submit(2)
        let accepted = out1.assignments[0].assignment.ref
        _ = h.agent(.accept(accepted), session: 1)
        _ = h.heartbeat(session: 1, slots: 4)
        _ = h.advance(4_000)
        let (later, _) = h.submit()
        _ = h.heartbeat(session: 1, slots: 4)
        // The tick asks to wake when the oldest unaccepted assignment is due.
        let t0 = h.now - 4_000
        let wakes = h.advance(1_000).compactMap { d -> Timestamp? in if case .wakeUp(let at) = d { return at } else { return nil } }
        #expect(wakes.min() == t0 + 10_001)
        _ = h.heartbeat(session: 1, slots: 4)
        let due = h.advance(5_001)
        #expect(due.cancels == [out1.assignments[1].assignment.ref])
        #expect(h.job(first[0]).attempts.map(\.state) == [.running])
        #expect(h.job(first[1]).attempts.first?.state == .rejected)
        #expect(h.job(later[0]).attempts.map(\.state) == [.assigned])
        _ = h.heartbeat(session: 1, slots: 4)
        let next = h.advance(4_000)
        #expect(next.cancels.contains { $0.job == later[0] })
        #expect(h.job(later[0]).attempts.first?.state == .rejected)
    }

    @Test("cancelling a queued job removes it; a running one is stopped on the agent")
    func cancel() {
        var h = Harness()
        h.register("gpu-1", session: 1, slots: 1)
        let (ids, out) = h.submit(2)
        let running = ids.first { h.job($0).state == .assigned }!
        let queued = ids.first { $0 != running }!
        let (r1, _) = h.request(.cancelJob(queued))
        guard case .success(.job(let j1))? = r1 else { Issue.record("\(String(describing: r1))"); return }
        #expect(j1.state == .cancelled)
        #expect(h.core.queueDepth == 0)
        let (_, d2) = h.request(.cancelJob(running))
        #expect(d2.cancels == [out.assignments[0].assignment.ref])
        #expect(h.job(running).state == .cancelled)
        // The slot is held until the agent confirms.
        let (more, out3) = h.submit()
        #expect(out3.assignments.isEmpty)
        let confirm = h.result(out.assignments[0].assignment.ref, session: 1, outcome: .cancelled)
        #expect(confirm.assignments.map(\.assignment.ref.job) == more)
        #expect(h.job(running).state == .cancelled)
        let (r4, _) = h.request(.cancelJob(running))
        guard case .failure(let e)? = r4 else { Issue.record("cancel twice"); return }
        #expect(e.code == .conflict)
    }

    @Test("a full queue refuses a submit with a clear error")
    func queueFull() {
        var settings = CoordinatorSettings()
        settings.maxQueued = 3
        var h = Harness(settings: settings)
        _ = h.submit(3)
        let (r, _) = h.request(.submit([JobSpec(model: "m", prompt: "x")]))
        guard case .failure(let e)? = r else { Issue.record("accepted"); return }
        #expect(e.code == .queueFull)
        #expect(e.message.contains("jobs.max_queued is 3"))
    }

    @Test("bad job specs are refused, naming the job and the problem", arguments: [
        (JobSpec(model: "", prompt: "x"), "model is empty"),
        (JobSpec(model: "m", prompt: String(repeating: "x", count: 2_000_000)), "prompt is 2000000 bytes"),
        (JobSpec(model: "m", prompt: "x", maxTokens: -1), "max_tokens is -1"),
        (JobSpec(model: "m", prompt: "x", temperature: .nan), "temperature"),
    ])
    func validation(_ spec: JobSpec, _ fragment: String) {
        var h = Harness()
        let (r, _) = h.request(.submit([JobSpec(model: "m", prompt: "ok"), spec]))
        guard case .failure(let e)? = r else { Issue.record("accepted"); return }
        #expect(e.message.hasPrefix("job 2 of 2: "))
        #expect(e.message.contains(fragment), "\(e.message)")
        #expect(h.core.queueDepth == 0)  // all or nothing
    }

    @Test("a read-only token can list but not submit, cancel or drain")
    func readOnly() {
        var h = Harness()
        let (r, _) = h.request(.submit([JobSpec(model: "m", prompt: "x")]), permission: .readOnly)
        guard case .failure(let e)? = r else { Issue.record("accepted"); return }
        #expect(e.code == .permissionDenied)
        let (ok, _) = h.request(.listJobs(JobFilter()), permission: .readOnly)
        guard case .success? = ok else { Issue.record("list refused"); return }
    }

    @Test("a job waits for a node with its constraint, then runs there")
    func constraints() {
        var h = Harness()
        h.register("cpu-1", session: 1, labels: ["pool": "cpu"])
        let (ids, out) = h.submit(constraints: ["pool": "h200"])
        #expect(out.assignments.isEmpty)
        let (explained, _) = h.request(.explainJob(ids[0]))
        guard case .success(.explanation(let e))? = explained else { Issue.record("no explanation"); return }
        #expect(e.verdicts.first?.rejection?.filter == "constraints")
        let joined = h.register("h200-1", session: 2, labels: ["pool": "h200"])
        #expect(joined.assignments.map(\.session) == [SessionID(2)])
    }

    @Test("on re-register, running attempts are adopted, unknown ones cancelled, forgotten ones retried")
    func reconcile() {
        var h = Harness()
        h.register("gpu-1", session: 1, slots: 3)
        let (ids, out) = h.submit(2)
        let refs = out.assignments.map(\.assignment.ref)
        let bogus = AttemptRef(job: JobID(rawValue: 12345), attempt: 1)
        // The agent reconnects still running the first attempt, and a bogus one, but not the second.
        let again = h.register("gpu-1", session: 2, slots: 3, running: [refs[0], bogus])
        let registered = again.compactMap { d -> Registered? in
            if case .send(_, .registered(let r)) = d { return r }
            return nil
        }.first
        #expect(registered?.cancel == [bogus])
        #expect(h.job(refs[0].job).state == .running, "the agent says it runs it")
        #expect(h.job(refs[1].job).attempts.first?.state == .lost)
        #expect(again.assignments.map(\.assignment.ref) == [AttemptRef(job: refs[1].job, attempt: 2)])
        _ = ids
    }

    @Test("watchers get every change and a final event")
    func watch() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (ids, out) = h.submit()
        let ref = out.assignments[0].assignment.ref
        let watcher = SessionID(77)
        let first = h.core.admin(.watchJob(ids[0]), requestID: 5, session: watcher, permission: .readOnly, now: h.now)
        #expect(first.count == 1)
        let p = h.agent(.progress(JobProgress(ref: ref, outputDelta: "he", completionTokens: 1)), session: 1)
        let events = p.compactMap { d -> JobEvent? in
            if case .jobEvent(watcher, 5, let e) = d { return e }
            return nil
        }
        #expect(events.map(\.outputDelta) == ["he"])
        let done = h.result(ref, session: 1)
        let last = done.compactMap { d -> JobEvent? in
            if case .jobEvent(watcher, 5, let e) = d { return e }
            return nil
        }.last
        #expect(last?.final == true)
        #expect(last?.job.state == .succeeded)
    }

    @Test("the core is a value: a copy taken mid-job does not see what happens to the original, nor the original the copy's changes")
    func coreIsAValue() {
        var h = Harness()
        let (id, ref, _) = h.accepted()
        var copy = h
        _ = h.result(ref, session: 1)
        #expect(h.job(id).state == .succeeded && h.job(id).output == "out")
        #expect(copy.job(id).state == .running && copy.job(id).output.isEmpty)
        _ = copy.request(.cancelJob(id))
        #expect(copy.job(id).state == .cancelled)
        #expect(h.job(id).state == .succeeded)
    }
}
