import GantryAgentCore
import GantryModel
import Testing

@Suite("Agent core")
struct AgentCoreTests {
    let now = Timestamp(unixMillis: 1_764_000_000_000)
    let ref = AttemptRef(job: JobID(rawValue: 1 << 20), attempt: 1)

    func core(slots: Int = 1, healthy: Bool = true) -> AgentCore {
        AgentCore(
            nodeID: NodeID("gpu-1")!, labels: [:], inventory: Inventory(), cost: .free,
            engines: [EngineStatus(name: "e", kind: .sim, models: ["m"], slots: slots, healthy: healthy)], software: "t")
    }

    func assignment(_ ref: AttemptRef, engine: String = "e", model: String = "m") -> Assignment {
        Assignment(ref: ref, engine: engine, spec: JobSpec(model: model, prompt: "p", maxTokens: 4), submittedAt: now)
    }

    @Test("an assignment is accepted and started when a slot is free")
    func accept() {
        var c = core()
        _ = c.connected(heartbeatIntervalMs: 1000, now: now)
        let out = c.received(.assign(assignment(ref)), now: now)
        #expect(out == [.send(.accept(ref)), .start(assignment(ref))])
        #expect(c.engineStatuses[0].slotsUsed == 1)
    }

    @Test("assignments that cannot run are refused with the reason", arguments: [
        ("x", "m", true, 1, "no engine named 'x'"),
        ("e", "other", true, 1, "does not serve model other"),
        ("e", "m", false, 1, "is unhealthy"),
        ("e", "m", true, 0, "has no free slot"),
    ])
    func refuse(_ engine: String, _ model: String, _ healthy: Bool, _ slots: Int, _ fragment: String) {
        var c = core(slots: slots, healthy: healthy)
        _ = c.connected(heartbeatIntervalMs: 1000, now: now)
        let out = c.received(.assign(assignment(ref, engine: engine, model: model)), now: now)
        guard case .send(.reject(_, let reason))? = out.first else { Issue.record("\(out)"); return }
        #expect(reason.contains(fragment))
    }

    @Test("a result is spooled before it is sent, kept until acked, and re-sent on reconnect")
    func spool() {
        var c = core()
        _ = c.connected(heartbeatIntervalMs: 1000, now: now)
        _ = c.received(.assign(assignment(ref)), now: now)
        let result = AttemptResult(ref: ref, outcome: .succeeded, startedAt: now, finishedAt: now)
        #expect(c.finished(result) == [.spool(result), .durable(.send(.result(result)))])
        c.disconnected()
        let again = c.connected(heartbeatIntervalMs: 1000, now: now)
        guard case .send(.register(let reg))? = again.first else { Issue.record("no register"); return }
        #expect(reg.spooled == [ref])
        #expect(again.last == .durable(.send(.result(result))))
        #expect(c.received(.ack(ref), now: now) == [.unspool(ref)])
        #expect(c.received(.ack(ref), now: now).isEmpty)
    }

    @Test("a result the coordinator asks for again (a repeated assignment) is re-sent only once durable")
    func repeatedAssignment() {
        var c = core()
        _ = c.connected(heartbeatIntervalMs: 1000, now: now)
        _ = c.received(.assign(assignment(ref)), now: now)
        let result = AttemptResult(ref: ref, outcome: .succeeded, startedAt: now, finishedAt: now)
        _ = c.finished(result)
        #expect(c.received(.assign(assignment(ref)), now: now) == [.durable(.send(.result(result)))])
    }

    @Test("a cancel stops the attempt and its result is reported as cancelled")
    func cancel() {
        var c = core()
        _ = c.connected(heartbeatIntervalMs: 1000, now: now)
        _ = c.received(.assign(assignment(ref)), now: now)
        #expect(c.received(.cancel(ref, reason: "admin"), now: now) == [.stop(ref, reason: "admin")])
        let out = c.finished(AttemptResult(ref: ref, outcome: .failed, error: "killed", startedAt: now, finishedAt: now))
        guard case .spool(let r)? = out.first else { Issue.record("\(out)"); return }
        #expect(r.outcome == .cancelled)
    }

    @Test("heartbeats are due every interval and carry engine use")
    func heartbeats() {
        var c = core()
        #expect(!c.heartbeatDue(now: now))
        _ = c.connected(heartbeatIntervalMs: 1000, now: now)
        #expect(!c.heartbeatDue(now: now + 999))
        #expect(c.heartbeatDue(now: now + 1000))
        let hb = c.heartbeat(stats: HostStats(), now: now + 1000)
        guard case .send(.heartbeat(let h))? = hb.first else { Issue.record("\(hb)"); return }
        #expect(h.seq == 1 && h.engines.count == 1)
    }

    @Test("backoff grows exponentially to its cap, with jitter in [½, 1]")
    func backoff() {
        var b = Backoff(baseMs: 100, maxMs: 1000)
        #expect(b.next(unit: 1) == 100)
        #expect(b.next(unit: 1) == 200)
        #expect(b.next(unit: 0) == 200)
        #expect(b.next(unit: 1) == 800)
        #expect(b.next(unit: 1) == 1000)
        b.reset()
        #expect(b.next(unit: 0.5) == 75)
    }

    @Test("scrapes failing three times in a row make an engine unhealthy, a good one heals it; the probe still counts")
    func telemetryHealth() {
        var c = core()
        func telemetry(_ t: EngineTelemetry?) -> Bool { c.setTelemetry(engine: "e", t) }
        func probe(healthy: Bool, detail: String) -> Bool { c.setHealth(engine: "e", healthy: healthy, detail: detail) }
        var t = EngineTelemetry(source: .llamacpp, running: 1, waiting: 0, scrapedAt: now)
        #expect(!telemetry(t))
        #expect(c.engineStatuses[0].telemetry?.running == 1)
        for failures in 1...2 {
            t.failures = failures
            #expect(!telemetry(t), "\(failures) failures are tolerated")
        }
        t.failures = 3
        #expect(telemetry(t))
        #expect(!c.engineStatuses[0].healthy)
        #expect(c.engineStatuses[0].healthDetail.contains("metrics could not be read 3 times"))
        // The probe passing does not heal it while scrapes fail.
        #expect(!probe(healthy: true, detail: "ok"))
        t.failures = 0
        #expect(telemetry(t))
        #expect(c.engineStatuses[0].healthy && c.engineStatuses[0].healthDetail == "ok")
        // A failing probe makes it unhealthy whatever the scrapes say; no telemetry at all is fine.
        #expect(probe(healthy: false, detail: "down"))
        #expect(!telemetry(nil))
        #expect(probe(healthy: true, detail: "ok"))
    }

    @Test("an agent asks for heartbeat acks; a coordinator that gives them, or never answers the registration, and then falls silent for three intervals is noticed")
    func silentCoordinator() {
        var c = core()
        let out = c.connected(heartbeatIntervalMs: 1000, now: now)
        guard case .send(.register(let reg))? = out.first else { Issue.record("no register"); return }
        #expect(reg.heartbeatAcks)
        // No answer to the registration yet: every coordinator answers it, so its silence
        // counts whether or not it will ack (it froze between handshake and answer).
        #expect(!c.coordinatorSilent(now: now + 3000))
        #expect(c.coordinatorSilent(now: now + 3001))
        // A coordinator that does not ack (an older one): silence means nothing.
        _ = c.received(.registered(Registered(nodeID: NodeID("gpu-1")!, state: .ready)), now: now)
        #expect(!c.coordinatorSilent(now: now + 60_000))
        // One that does: silent past three intervals (at least 2 s) is noticed; an ack resets it.
        _ = c.connected(heartbeatIntervalMs: 1000, now: now)
        var registered = Registered(nodeID: NodeID("gpu-1")!, state: .ready)
        registered.heartbeatAcks = true
        _ = c.received(.registered(registered), now: now)
        #expect(!c.coordinatorSilent(now: now + 3000))
        #expect(c.coordinatorSilent(now: now + 3001))
        _ = c.received(.heartbeatAck(seq: 1), now: now + 3001)
        #expect(!c.coordinatorSilent(now: now + 5000))
        c.disconnected()
        #expect(!c.coordinatorSilent(now: now + 60_000))
    }
}
