import GantryControl
import GantryCoordinator
import GantryModel
import GantryNet
import GantryPersistence
import GantryRuntime
import Hummingbird
import NIOCore

/// `/api/v1/…`: what the dashboard shows, as JSON. Every answer needs a dashboard session
/// or `Authorization: Bearer` with the admin or read-only token; read-only is enough for
/// all of it. The shapes are gantryctl's `--output json` ones (README, "Dashboard").
struct DashboardAPI: Sendable {
    let coordinator: Coordinator
    let sessions: DashboardSessions

    func add(to router: Router<APIRequestContext>) {
        router.get("/api/v1/overview") { request, context in await self.authorized(request, context) { try await self.overview() } }
        router.get("/api/v1/nodes") { request, context in await self.authorized(request, context) { try await self.nodes() } }
        router.get("/api/v1/nodes/:id") { request, context in
            await self.authorized(request, context) { try await self.node(context.parameters.get("id") ?? "") }
        }
        router.get("/api/v1/jobs") { request, context in await self.authorized(request, context) { try await self.jobs(request.uri.queryParameters) } }
        router.get("/api/v1/jobs/:id") { request, context in
            await self.authorized(request, context) { try await self.job(context.parameters.get("id") ?? "") }
        }
        router.get("/api/v1/report") { request, context in await self.authorized(request, context) { try await self.report(request.uri.queryParameters) } }
        router.get("/api/v1/history") { request, context in await self.authorized(request, context) { try await self.history(request.uri.queryParameters) } }
    }

    // MARK: endpoints

    func overview() async throws -> JSONValue {
        guard case .status(let status) = try await ask(.status), case .object(var pairs) = status.json else { throw unexpected }
        let nodes = try await allNodes()
        let spend = nodes.filter { $0.state != .lost }.reduce(Int64(0)) { $0 + $1.costMicroUSDPerHour }
        pairs.insert(("now", .string(WallClock.now().rfc3339)), at: 0)
        pairs.append(("spend_usd_per_hour", .double(Double(spend) / 1_000_000)))
        return .object(pairs)
    }

    func nodes() async throws -> JSONValue {
        let nodes = try await allNodes()
        let utilization = try await lastHour(by: .node)
        return .object([("nodes", .array(nodes.map { with($0.json, ("utilization_1h", .double(utilization[$0.id.rawValue] ?? 0))) }))])
    }

    func node(_ text: String) async throws -> JSONValue {
        guard let id = NodeID(text) else { throw APIError(.badRequest, "'\(text)' is not a node id") }
        guard case .node(let node) = try await ask(.getNode(id)) else { throw unexpected }
        let utilization = try await lastHour(by: .node, key: id.rawValue)
        return with(node.json, ("utilization_1h", .double(utilization[id.rawValue] ?? 0)))
    }

    func jobs(_ query: Parameters) async throws -> JSONValue {
        var filter = JobFilter(limit: 50)
        if let s = query["state"], !s.isEmpty {
            guard let state = JobState(rawValue: String(s)) else {
                throw APIError(.badRequest, "state '\(s)' is not one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.state = state
        }
        if let t = query["tenant"], !t.isEmpty { filter.tenant = String(t) }
        if let n = query["node"], !n.isEmpty {
            guard let node = NodeID(String(n)) else { throw APIError(.badRequest, "'\(n)' is not a node id") }
            filter.node = node
        }
        if let l = query["limit"] {
            guard let limit = Int(l), (1...500).contains(limit) else { throw APIError(.badRequest, "limit must be a number from 1 to 500") }
            filter.limit = limit
        }
        guard case .jobs(let jobs, _) = try await ask(.listJobs(filter)) else { throw unexpected }
        return .object([("jobs", .array(jobs.map(\.json)))])
    }

    func job(_ text: String) async throws -> JSONValue {
        guard let id = JobID(text) else { throw APIError(.badRequest, "'\(text)' is not a job id") }
        guard case .job(let job) = try await ask(.getJob(id)) else { throw unexpected }
        // Jobs no longer in memory have no explanation.
        let explanation: JSONValue
        if case .explanation(let e)? = try? await ask(.explainJob(id)) { explanation = e.json } else { explanation = .null }
        return .object([("job", job.json), ("explanation", explanation)])
    }

    func report(_ query: Parameters) async throws -> JSONValue {
        let by = try groupBy(query)
        let (from, to) = try window(query)
        func page(_ q: ReportQuery) async throws -> Report {
            guard case .report(let r) = try await ask(.report(q)) else { throw unexpected }
            return r
        }
        return try await page(ReportQuery(by: by, from: from, to: to)).withLaterPages(page).json
    }

    func history(_ query: Parameters) async throws -> JSONValue {
        let by = try groupBy(query)
        var (from, to) = try window(query)
        // Whole minutes: from rounded down, to up.
        from = Timestamp(unixMillis: HistoryQuery.minute(from) * HistoryQuery.minuteMs)
        let toMinute = HistoryQuery.minute(Timestamp(unixMillis: to.unixMillis + HistoryQuery.minuteMs - 1))
        to = Timestamp(unixMillis: toMinute * HistoryQuery.minuteMs)
        let minutes = max(1, (to - from) / HistoryQuery.minuteMs)
        var step = Self.step(minutes: minutes)
        if let s = query["step"] {
            guard let seconds = Int64(s), seconds >= 60, seconds % 60 == 0, minutes / (seconds / 60) <= 10_000 else {
                throw APIError(.badRequest, "step must be a whole number of minutes in seconds (60, 300, …), at most 10,000 buckets")
            }
            step = seconds / 60
        }
        let key = query["key"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        return try await historyAnswer(HistoryQuery(by: by, from: from, to: to, stepMinutes: step, key: key)).json
    }

    // MARK: helpers

    /// Buckets for about 360 points or fewer: 1, 5, 15, 60, 180 or 1440 minutes.
    static func step(minutes: Int64) -> Int64 {
        [1, 5, 15, 60, 180, 1440].first { minutes / $0 <= 360 } ?? 1440
    }

    func historyAnswer(_ q: HistoryQuery) async throws -> History {
        guard let store = coordinator.store else { throw APIError(.unavailable, "this gantryd runs without a store") }
        guard case .history(let history) = try await store.answer(.history(q)) else { throw unexpected }
        return history
    }

    /// Utilisation over the last hour, by node or pool.
    func lastHour(by: ReportQuery.GroupBy, key: String? = nil) async throws -> [String: Double] {
        let now = HistoryQuery.minute(WallClock.now()) + 1
        let q = HistoryQuery(
            by: by, from: Timestamp(unixMillis: (now - 60) * HistoryQuery.minuteMs), to: Timestamp(unixMillis: now * HistoryQuery.minuteMs),
            stepMinutes: 60, key: key)
        return Dictionary(uniqueKeysWithValues: try await historyAnswer(q).totals.map { ($0.report.key, $0.report.utilization) })
    }

    func allNodes() async throws -> [NodeInfo] {
        var out: [NodeInfo] = []
        var after: NodeID?
        repeat {
            guard case .nodes(let page, let next) = try await ask(.listNodes(after: after, limit: 0)) else { throw unexpected }
            out += page
            after = next
        } while after != nil
        return out
    }

    func groupBy(_ query: Parameters) throws -> ReportQuery.GroupBy {
        guard let s = query["by"] else { return .pool }
        guard let by = ReportQuery.GroupBy(rawValue: String(s)) else { throw APIError(.badRequest, "by must be node, pool, model or tenant") }
        return by
    }

    /// `from` and `to` (RFC 3339); by default the last 24 hours.
    func window(_ query: Parameters) throws -> (Timestamp, Timestamp) {
        func time(_ name: Substring) throws -> Timestamp? {
            guard let s = query[name] else { return nil }
            guard let t = Timestamp(rfc3339: String(s)) else { throw APIError(.badRequest, "\(name) '\(s)' is not an RFC 3339 time") }
            return t
        }
        let to = try time("to") ?? WallClock.now()
        let from = try time("from") ?? Timestamp(unixMillis: to.unixMillis - 86_400_000)
        guard from < to else { throw APIError(.badRequest, "from must be before to") }
        return (from, to)
    }

    func ask(_ request: AdminRequest) async throws -> AdminResponse {
        switch await coordinator.ask(request) {
        case .success(let response): return response
        case .failure(let error): throw APIError(error)
        }
    }

    var unexpected: APIError { APIError(.internal, "unexpected answer from the coordinator") }

    func with(_ value: JSONValue, _ pair: (String, JSONValue)) -> JSONValue {
        guard case .object(let pairs) = value else { return value }
        return .object(pairs + [pair])
    }

    /// Runs `body` for a request with a valid session or token; errors as JSON. A wrong
    /// bearer token counts as a failed login from its address (see `DashboardRoutes.login`).
    func authorized(_ request: Request, _ context: APIRequestContext, _ body: () async throws -> JSONValue) async -> Response {
        var allowed = false
        if let value = request.cookies[DashboardSessions.cookieName]?.value, case .valid = sessions.check(value, now: WallClock.now()) {
            allowed = true
        } else if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
            let penalty = coordinator.admission.penalty(for: address, cap: 5)
            if penalty > 0 { try? await Task.sleep(for: .milliseconds(Int(penalty * 1000))) }
            allowed = sessions.permission(ofToken: String(header.dropFirst(7))) != nil
            if !allowed { coordinator.admission.recordAuthFailure(address) }
        }
        guard allowed else {
            return APIError(.authFailed, "log in to the dashboard, or send Authorization: Bearer with the admin or read-only token").response
        }
        do {
            return Self.json(try await body(), status: .ok)
        } catch let e as APIError {
            return e.response
        } catch {
            return APIError(.internal, "\(error)").response
        }
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: DashboardRoutes.secured([.contentType: "application/json"]),
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.render() + "\n")))
    }
}

/// An API error: `{"error": {"message", "code"}}` with its HTTP status.
struct APIError: Error {
    let error: GantryError

    init(_ code: ErrorCode, _ message: String) { error = GantryError(code, message) }
    init(_ error: GantryError) { self.error = error }

    var status: HTTPResponse.Status {
        switch error.code {
        case .badRequest: .badRequest
        case .authFailed: .unauthorized
        case .permissionDenied: .forbidden
        case .notFound: .notFound
        case .unavailable: .serviceUnavailable
        default: .internalServerError
        }
    }

    var response: Response {
        DashboardAPI.json(.object([("error", .object([("message", .string(error.message)), ("code", .string(error.code.name))]))]), status: status)
    }
}
