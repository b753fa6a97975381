import GantryAccounting
import GantryCoordinatorCore
import GantryModel
import Testing

@Suite("Coordinator core: engine telemetry")
struct TelemetryTests {
    func heartbeat(_ h: inout Harness, session: UInt64, slots: Int = 2, _ t: EngineTelemetry) -> [CoordinatorDirective] {
        h.core.agentMessage(
            .heartbeat(Heartbeat(seq: 1, sentAt: h.now, engines: [EngineStatus(name: "e", kind: .openai, models: ["m"], slots: slots, telemetry: t)])),
            session: SessionID(session), now: h.now)
    }

    func submit(_ h: inout Harness, prompt: String) -> (JobID, [CoordinatorDirective]) {
        let (result, out) = h.request(.submit([JobSpec(model: "m", prompt: prompt, maxTokens: 8, tenant: "t")]))
        guard case .success(.submitted(let ids))? = result else { return (JobID(rawValue: 0), out) }
        return (ids[0], out)
    }

    @Test("other clients' requests, reported by the engine, fill its slots; jobs go to the other node")
    func outsideLoad() {
        var h = Harness()
        h.register("a", session: 1)
        h.register("b", session: 2)
        // a's engine runs two requests, none of them Gantry's.
        _ = heartbeat(&h, session: 1, EngineTelemetry(source: .llamacpp, running: 2, waiting: 0, scrapedAt: h.now))
        let (_, out) = h.submit(2)
        #expect(out.assignments.map(\.session) == [SessionID(2), SessionID(2)])
        // The engine is idle again: the next job may go to a.
        _ = heartbeat(&h, session: 1, EngineTelemetry(source: .llamacpp, running: 0, waiting: 0, scrapedAt: h.now + 1))
        let (_, more) = h.submit(1)
        #expect(more.assignments.map(\.session) == [SessionID(1)])
    }

    @Test("a job that found no room is placed when an engine's own load drops")
    func loadDrops() {
        var h = Harness()
        h.register("a", session: 1)
        _ = heartbeat(&h, session: 1, EngineTelemetry(source: .vllm, running: 0, waiting: 0, kvUsage: 0.99, scrapedAt: h.now))
        let (id, out) = submit(&h, prompt: "x")
        #expect(out.assignments.isEmpty)
        #expect(h.job(id).state == .queued)
        let later = heartbeat(&h, session: 1, EngineTelemetry(source: .vllm, running: 0, waiting: 0, kvUsage: 0.5, scrapedAt: h.now + 1))
        #expect(later.assignments.count == 1)
    }

    @Test("jobs sharing a prompt prefix go to the engine that served it last")
    func prefixAffinity() {
        var h = Harness()
        for n in 1...3 { h.register("n\(n)", session: UInt64(n), slots: 4) }
        let shared = String(repeating: "You are a helpful assistant. ", count: 20)
        var nodes: [SessionID] = []
        for i in 0..<6 {
            let (id, out) = submit(&h, prompt: shared + "question \(i)")
            guard let a = out.assignments.first else { Issue.record("not placed"); return }
            nodes.append(a.session)
            // Each finishes before the next comes, so every node is equally free.
            _ = h.result(AttemptRef(job: id, attempt: 1), session: a.session.rawValue)
        }
        #expect(Set(nodes).count == 1, "\(nodes)")
        // A different prefix is free to go elsewhere (the tie goes to the lowest id).
        let (_, other) = submit(&h, prompt: "Something else entirely")
        #expect(other.assignments.first?.session == SessionID(1))
    }

    @Test("the engine's own token count is cross-checked with Gantry's: outside tokens are reported and persisted")
    func drift() {
        var settings = CoordinatorSettings()
        settings.driftWindowMs = 10_000
        settings.idleFlushMs = 1_000_000
        var h = Harness(settings: settings)
        h.register("a", session: 1)
        var engineTokens: UInt64 = 5000  // what the engine had counted before
        var notices: [Notice] = []
        func beat(_ h: inout Harness) {
            let out = heartbeat(&h, session: 1, EngineTelemetry(source: .llamacpp, running: 0, waiting: 0, generationTokens: engineTokens, scrapedAt: h.now))
            for case .notice(let n) in out { notices.append(n) }
        }
        beat(&h)
        // Gantry's jobs make 100 tokens a second, exactly what the engine counts.
        for _ in 0..<12 {
            let (ids, out) = h.submit(1)
            _ = h.result(AttemptRef(job: ids[0], attempt: 1), session: out.assignments[0].session.rawValue, tokens: 100)
            engineTokens += 100
            _ = h.advance(1000)
            beat(&h)
        }
        let agreed = h.core.tokenDrift().first?.reading
        #expect(agreed?.ratio == 0 && agreed?.covered == true)
        #expect(notices.allSatisfy { if case .tokenDrift = $0 { false } else { true } })
        // Someone else now makes 50 tokens a second on the engine.
        for _ in 0..<12 {
            let (ids, out) = h.submit(1)
            _ = h.result(AttemptRef(job: ids[0], attempt: 1), session: out.assignments[0].session.rawValue, tokens: 100)
            engineTokens += 150
            _ = h.advance(1000)
            beat(&h)
        }
        let reading = h.core.tokenDrift().first?.reading
        #expect(reading.map { abs($0.ratio - 50.0 / 150) < 0.01 } == true, "\(String(describing: reading))")
        let warnings = notices.compactMap { n -> Bool? in if case .tokenDrift(_, _, let over) = n { over } else { nil } }
        #expect(warnings == [true], "one warning, when the drift first passes 1%")
        // The outside tokens go to the store with the node's idle accrual.
        let flushed = h.core.flushAllIdle(now: h.now).persisted.compactMap { c -> IdleAccrual? in if case .idle(let i) = c { i } else { nil } }
        #expect(flushed.reduce(0) { $0 + $1.outsideTokens } == 12 * 50)
    }
}
