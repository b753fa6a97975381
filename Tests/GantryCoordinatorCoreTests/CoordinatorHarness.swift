import GantryCoordinatorCore
import GantryModel
import GantryPersistence

/// Drives a `CoordinatorCore` with a manual clock and records what it asks for.
struct Harness {
    var core: CoordinatorCore
    var now = Timestamp(unixMillis: 1_764_000_000_000)
    var nextRequest: UInt64 = 1
    let admin = SessionID(1000)

    init(settings: CoordinatorSettings = CoordinatorSettings()) {
        core = CoordinatorCore(settings: settings, now: now)
    }

    mutating func advance(_ ms: Int64) -> [CoordinatorDirective] {
        now = now + ms
        return core.tick(now: now)
    }

    @discardableResult
    mutating func register(
        _ id: String, session: UInt64, slots: Int = 2, models: [String] = ["m"], labels: Labels = [:],
        running: [AttemptRef] = [], spooled: [AttemptRef] = []
    ) -> [CoordinatorDirective] {
        let reg = Registration(
            nodeID: NodeID(id)!, labels: labels,
            engines: [EngineStatus(name: "e", kind: .sim, models: models, slots: slots)], running: running, spooled: spooled)
        return core.agentRegistered(
            session: SessionID(session), address: "127.0.0.1:\(session)", handshakeNodeID: NodeID(id), registration: reg, now: now)
    }

    mutating func heartbeat(session: UInt64, slots: Int = 2, healthy: Bool = true) -> [CoordinatorDirective] {
        core.agentMessage(.heartbeat(Heartbeat(seq: 1, sentAt: now, engines: [EngineStatus(name: "e", kind: .sim, models: ["m"], slots: slots, healthy: healthy)])), session: SessionID(session), now: now)
    }

    mutating func request(_ r: AdminRequest, permission: Permission = .admin) -> (Result<AdminResponse, GantryError>?, [CoordinatorDirective]) {
        let id = nextRequest
        nextRequest += 1
        var out = core.admin(r, requestID: id, session: admin, permission: permission, now: now)
        // The shell's part for reads from the store: this harness's store is empty.
        for case .query(let session, let rid, let query) in out.unwrapped where rid == id {
            let empty: StoreAnswer
            switch query {
            case .job: empty = .job(nil)
            case .jobs: empty = .jobs([])
            case .report(let by, let from, let to, _, _): empty = .report(Report(by: by, from: from, to: to, rows: [], total: ReportRow(key: "total")))
            case .history(let q): empty = .history(History(query: q, series: [], totals: [], total: HistoryRow(key: "total", windowMs: 0)))
            }
            out += core.queryAnswered(session: session, requestID: rid, query: query, answer: .success(empty))
        }
        for d in out.unwrapped {
            if case .reply(_, let rid, let result) = d, rid == id { return (result, out) }
        }
        return (nil, out)
    }

    mutating func submit(_ n: Int = 1, model: String = "m", tenant: String = "t", constraints: Labels = [:], maxTokens: Int = 8) -> ([JobID], [CoordinatorDirective]) {
        let specs = (0..<n).map { _ in JobSpec(model: model, prompt: "hello", maxTokens: maxTokens, tenant: tenant, constraints: constraints) }
        let (result, out) = request(.submit(specs))
        guard case .success(.submitted(let ids))? = result else { return ([], out) }
        return (ids, out)
    }

    mutating func agent(_ m: AgentMessage, session: UInt64) -> [CoordinatorDirective] {
        core.agentMessage(m, session: SessionID(session), now: now)
    }

    mutating func result(_ ref: AttemptRef, session: UInt64, outcome: Outcome = .succeeded, tokens: Int = 8, error: String? = nil) -> [CoordinatorDirective] {
        agent(.result(AttemptResult(
            ref: ref, outcome: outcome, output: "out", usage: Usage(promptTokens: 2, completionTokens: tokens), error: error,
            engine: "e", startedAt: now, finishedAt: now)), session: session)
    }

    /// One node, one job placed on it and accepted: the job, its attempt, and what the
    /// accept returned.
    mutating func accepted() -> (JobID, AttemptRef, [CoordinatorDirective]) {
        register("gpu-1", session: 1)
        let (ids, out) = submit()
        let ref = out.assignments[0].assignment.ref
        return (ids[0], ref, agent(.accept(ref), session: 1))
    }

    func job(_ id: JobID) -> Job { core.job(id)! }
}

extension [CoordinatorDirective] {
    /// The directives with `.durable` wrappers taken off (what the shell eventually does).
    var unwrapped: [CoordinatorDirective] {
        map {
            var d = $0
            while case .durable(let inner) = d { d = inner }
            return d
        }
    }

    /// The changes handed to the store.
    var persisted: [StoreChange] {
        compactMap {
            if case .persist(let c) = $0 { return c }
            return nil
        }
    }

    /// Assignments sent, by session.
    var assignments: [(session: SessionID, assignment: Assignment)] {
        unwrapped.compactMap {
            if case .send(let s, .assign(let a)) = $0 { return (s, a) }
            return nil
        }
    }

    var closedSessions: [SessionID] {
        unwrapped.compactMap {
            if case .close(let s, _) = $0 { return s }
            return nil
        }
    }

    var acks: [AttemptRef] {
        unwrapped.compactMap {
            if case .send(_, .ack(let r)) = $0 { return r }
            return nil
        }
    }

    var cancels: [AttemptRef] {
        unwrapped.compactMap {
            if case .send(_, .cancel(let r, _)) = $0 { return r }
            return nil
        }
    }

    var errors: [GantryError] {
        unwrapped.compactMap {
            if case .error(_, let e, _) = $0 { return e }
            return nil
        }
    }
}
