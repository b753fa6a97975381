import GantryCoordinatorCore
import GantryModel
import GantryPersistence
import Testing

@Suite("Watching a job: the deltas add up to the output")
struct WatchTests {
    /// Plays a watcher: the text it holds after each event.
    static func text(_ events: [JobEvent], from start: String = "") -> String {
        events.reduce(start) { $1.outputReset ? $1.outputDelta : $0 + $1.outputDelta }
    }

    static func events(_ out: [CoordinatorDirective]) -> [JobEvent] {
        out.unwrapped.compactMap { if case .jobEvent(_, _, let e) = $0 { e } else { nil } }
    }

    @Test("text after the last progress arrives with the final event")
    func remainder() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (ids, out) = h.submit()
        let ref = out.assignments[0].assignment.ref
        var seen = Self.events(h.request(.watchJob(ids[0])).1)
        seen += Self.events(h.agent(.progress(JobProgress(ref: ref, outputDelta: "the cluster ", completionTokens: 2)), session: 1))
        let done = h.agent(.result(AttemptResult(
            ref: ref, outcome: .succeeded, output: "the cluster schedules tokens", usage: Usage(promptTokens: 1, completionTokens: 4),
            engine: "e", startedAt: h.now, finishedAt: h.now)), session: 1)
        let last = Self.events(done)
        seen += last
        #expect(last.last?.final == true)
        #expect(last.last?.outputDelta == "schedules tokens")
        #expect(Self.text(seen) == h.job(ids[0]).output)
    }

    @Test("a retried attempt starts the watched text over")
    func retryResets() {
        var settings = CoordinatorSettings()
        settings.maxAttempts = 2
        var h = Harness(settings: settings)
        h.register("gpu-1", session: 1)
        let (ids, out) = h.submit()
        let first = out.assignments[0].assignment.ref
        var seen = Self.events(h.request(.watchJob(ids[0])).1)
        seen += Self.events(h.agent(.progress(JobProgress(ref: first, outputDelta: "half an ans", completionTokens: 3)), session: 1))
        let failed = h.result(first, session: 1, outcome: .failed, error: "engine crashed")
        seen += Self.events(failed)
        #expect(Self.events(failed).contains { $0.outputReset })
        let second = failed.assignments[0].assignment.ref
        seen += Self.events(h.agent(.result(AttemptResult(
            ref: second, outcome: .succeeded, output: "a whole answer", usage: Usage(completionTokens: 3),
            engine: "e", startedAt: h.now, finishedAt: h.now)), session: 1))
        #expect(Self.text(seen) == "a whole answer")
        #expect(h.job(ids[0]).output == "a whole answer")
    }

    @Test("a result whose text does not continue the streamed text resets it")
    func divergingResult() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let (ids, out) = h.submit()
        let ref = out.assignments[0].assignment.ref
        var seen = Self.events(h.request(.watchJob(ids[0])).1)
        seen += Self.events(h.agent(.progress(JobProgress(ref: ref, outputDelta: "draft", completionTokens: 1)), session: 1))
        seen += Self.events(h.agent(.result(AttemptResult(
            ref: ref, outcome: .succeeded, output: "final", usage: Usage(completionTokens: 1),
            engine: "e", startedAt: h.now, finishedAt: h.now)), session: 1))
        #expect(Self.text(seen) == "final")
    }
}

@Suite("Restore")
struct RestoreTests {
    @Test("status counts every finished job the store holds, not only those loaded")
    func countsFromStore() {
        var core = CoordinatorCore(now: Timestamp(unixMillis: 1000))
        var loaded = Job(id: JobID(rawValue: 1 << 20), spec: JobSpec(model: "m", prompt: "p"), submittedAt: Timestamp(unixMillis: 1))
        loaded.state = .succeeded
        var queued = Job(id: JobID(rawValue: 2 << 20), spec: JobSpec(model: "m", prompt: "p"), submittedAt: Timestamp(unixMillis: 2))
        queued.state = .queued
        core.restore(jobs: [loaded, queued], nodes: [], finishedCounts: [.succeeded: 19_400, .failed: 3, .queued: 1], now: Timestamp(unixMillis: 1000))
        let status = core.status(now: Timestamp(unixMillis: 1000))
        #expect(status.jobs[.succeeded] == 19_400)
        #expect(status.jobs[.failed] == 3)
        #expect(status.jobs[.queued] == 1)
        #expect(status.queueDepth == 1)
    }

    @Test("an assignment restored from the store is taken back when its accept is overdue")
    func restoredAssignmentExpires() {
        var core = CoordinatorCore(now: Timestamp(unixMillis: 20_000))
        let node = PersistedNode(
            id: NodeID("n1")!, labels: [:], inventory: Inventory(hostname: "h", cpus: 4, gpus: []),
            engines: [EngineStatus(name: "e", kind: .sim, models: ["m"], slots: 2)], cost: CostProfile(kind: .cloud, cloudMicroUSDPerHour: 5),
            cordoned: false, draining: false, lastSeen: Timestamp(unixMillis: 19_000))
        var job = Job(id: JobID(rawValue: 1 << 20), spec: JobSpec(model: "m", prompt: "p"), submittedAt: Timestamp(unixMillis: 11_000))
        job.state = .assigned
        job.attempts = [Attempt(number: 1, node: node.id, engine: "e", assignedAt: Timestamp(unixMillis: 12_000))]
        core.restore(jobs: [job], nodes: [node], now: Timestamp(unixMillis: 20_000))
        let early = core.tick(now: Timestamp(unixMillis: 20_500))
        #expect(core.job(job.id)?.attempts.first?.state == .assigned)
        #expect(early.contains { if case .wakeUp(let at) = $0 { at == Timestamp(unixMillis: 22_001) } else { false } })
        _ = core.tick(now: Timestamp(unixMillis: 22_001))
        #expect(core.job(job.id)?.attempts.first?.state == .rejected)
        #expect(core.job(job.id)?.state == .queued)
    }
}
