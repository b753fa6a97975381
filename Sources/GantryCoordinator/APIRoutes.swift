import Crypto
import GantryModel
import GantryOpenAI
import GantryRuntime
import HTTPTypes
public import Hummingbird
import HummingbirdCore
import Logging
public import NIOCore
import NIOConcurrencyHelpers

/// The OpenAI-compatible API on gantryd's API listener: `POST /v1/completions`,
/// `POST /v1/chat/completions` (streamed or not) and `GET /v1/models`, keyed by API keys.
///
/// A request becomes a job like any other (queued by priority and tenant fairness, placed by
/// the same pipeline, fenced, with a receipt); its chunks are forwarded to the client as the
/// agent streams them. If no engine has room within `api.max_queue_wait` the request gets
/// 503; if the client goes away, its job is cancelled, so the engine frees the slot.
public struct APIRoutes: Sendable {
    let coordinator: Coordinator
    let maxBodyBytes: Int
    let maxQueueWaitMs: Int64

    public init(coordinator: Coordinator, maxBodyBytes: Int, maxQueueWaitMs: Int64) {
        self.coordinator = coordinator
        self.maxBodyBytes = maxBodyBytes
        self.maxQueueWaitMs = maxQueueWaitMs
    }

    public func router() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.post("/v1/completions") { request, context in await self.generate(request, .completions, client: context.channel) }
        router.post("/v1/chat/completions") { request, context in await self.generate(request, .chat, client: context.channel) }
        router.get("/v1/models") { request, _ in await self.models(request) }
        return router
    }

    static let jobIDHeader = HTTPField.Name("x-gantry-job-id")!

    // MARK: models

    func models(_ request: Request) async -> Response {
        let credential: ApiCredential
        switch Self.credential(request) {
        case .success(let c): credential = c
        case .failure(let e): return Self.error(e)
        }
        switch await coordinator.apiModels(credential) {
        case .success(let names):
            return Self.json(.ok, OpenAIResponder.models(names, created: WallClock.now().unixMillis / 1000))
        case .failure(let e):
            return Self.error(OpenAIError(e))
        }
    }

    // MARK: completions

    func generate(_ request: Request, _ endpoint: OpenAIRequest.Endpoint, client: any Channel) async -> Response {
        let credential: ApiCredential
        switch Self.credential(request) {
        case .success(let c): credential = c
        case .failure(let e): return Self.error(e)
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            return Self.error(.tooLarge(limit: maxBodyBytes))
        } catch {
            return Self.error(.badRequest("the request body could not be read: \(error)"))
        }
        let parsed: OpenAIRequest
        do {
            parsed = try OpenAIRequest.parse(Array(body.readableBytesView), endpoint: endpoint)
        } catch {
            return Self.error(error)
        }
        let (session, events) = await coordinator.openExchange(credential, spec: parsed.jobSpec)
        // The answer: the job's id once it is durable (with its assignment if a slot was free).
        var iterator = events.makeAsyncIterator()
        guard case .answer(let answer)? = await iterator.next() else {
            await coordinator.closeExchange(session, cancel: nil, reason: "")
            return Self.error(OpenAIError(status: 503, type: "server_error", code: "unavailable", message: "gantryd is shutting down", retryAfter: 1))
        }
        let job: JobID
        switch answer {
        case .success(.submitted(let ids)) where ids.count == 1: job = ids[0]
        case .failure(let e):
            await coordinator.closeExchange(session, cancel: nil, reason: "")
            return Self.error(OpenAIError(e))
        case .success(let other):
            await coordinator.closeExchange(session, cancel: nil, reason: "")
            return Self.error(OpenAIError(status: 500, type: "server_error", message: "unexpected answer \(other)"))
        }
        let responder = OpenAIResponder(endpoint: endpoint, job: job, model: parsed.model, created: WallClock.now().unixMillis / 1000)
        if parsed.stream {
            return await stream(parsed, responder, job: job, session: session, events: events, client: client)
        }
        return await whole(responder, job: job, session: session, events: events, client: client)
    }

    /// Waits until the job leaves the queue (placed on an engine) or ends; nil when it was
    /// still queued after `api.max_queue_wait`.
    func placed(_ events: AsyncStream<ExchangeEvent>) async -> [JobEvent]? {
        let limit = maxQueueWaitMs
        return await withTaskGroup(of: [JobEvent]?.self) { group in
            group.addTask {
                var seen: [JobEvent] = []
                for await item in events {
                    guard case .event(let e) = item else { continue }
                    seen.append(e)
                    if e.job.state != .queued || e.final { return seen }
                }
                return seen
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(limit))
                return nil
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
    }

    /// A streamed response: server-sent events, each chunk written (and flushed) as it
    /// arrives; usage (and the receipt) at the end with `stream_options.include_usage`.
    func stream(
        _ parsed: OpenAIRequest, _ responder: OpenAIResponder, job: JobID, session: SessionID, events: AsyncStream<ExchangeEvent>,
        client: any Channel
    ) async -> Response {
        let before: [JobEvent]
        switch await untilClientGone(client, { await self.placed(events) }) {
        case .some(.some(let seen)): before = seen
        case .some(.none):
            await coordinator.closeExchange(session, cancel: job, reason: "no engine had room within \(maxQueueWaitMs) ms")
            return Self.error(.noCapacity(waitedMs: maxQueueWaitMs))
        case .none:
            await coordinator.closeExchange(session, cancel: job, reason: "the client went away")
            return Self.error(OpenAIError(status: 499, type: "server_error", message: "the client went away"))
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[Self.jobIDHeader] = job.description
        let coordinator = self.coordinator
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var first = true
            // One write (and flush) per event: its text, and at the end the finish, usage
            // and `[DONE]` with it.
            func send(_ event: JobEvent) async throws -> Bool {
                var out = ""
                if !event.outputDelta.isEmpty {
                    out += responder.chunk(event.outputDelta, first: first)
                    first = false
                }
                if event.final {
                    if event.job.state == .succeeded {
                        out += responder.finish(OpenAIResponder.finishReason(event.job))
                        if parsed.includeUsage { out += responder.usageChunk(event.job) }
                    } else {
                        let message = "the job ended \(event.job.state.rawValue): \(event.job.error ?? "no reason given")"
                        out += responder.errorChunk(OpenAIError(status: 500, type: "server_error", code: "job_\(event.job.state.rawValue)", message: message))
                    }
                    out += OpenAIResponder.done
                }
                if !out.isEmpty { try await writer.write(ByteBuffer(string: out)) }
                return event.final
            }
            // Ends when the job does, or as soon as the client's connection closes: the
            // watcher then closes the exchange (which ends `events`) and cancels the job.
            let finished = await withTaskGroup(of: Void.self) { group -> Bool in
                group.addTask {
                    await ChannelClosed.wait(client)
                    guard !Task.isCancelled else { return }
                    await coordinator.closeExchange(session, cancel: job, reason: "the client went away")
                }
                defer { group.cancelAll() }
                do {
                    for event in before where try await send(event) { return true }
                    for await item in events {
                        guard case .event(let event) = item else { continue }
                        if try await send(event) { return true }
                    }
                } catch {
                    // A write failed: the client is gone.
                    await coordinator.closeExchange(session, cancel: job, reason: "the client went away")
                }
                return false
            }
            guard finished else { return }
            await coordinator.closeExchange(session, cancel: nil, reason: "")
            try await writer.finish(nil)
        })
    }

    /// A whole response, once the job ended. A client that goes away meanwhile cancels it.
    func whole(_ responder: OpenAIResponder, job: JobID, session: SessionID, events: AsyncStream<ExchangeEvent>, client: any Channel) async -> Response {
        enum Outcome: Sendable { case done(Job), busy }
        let limit = maxQueueWaitMs
        let outcome = await untilClientGone(client) { () -> Outcome in
            guard let before = await self.placed(events) else { return .busy }
            if let last = before.last, last.final { return .done(last.job) }
            for await item in events {
                if case .event(let e) = item, e.final { return .done(e.job) }
            }
            return .busy
        }
        switch outcome {
        case .done(let job)?:
            await coordinator.closeExchange(session, cancel: nil, reason: "")
            guard job.state == .succeeded else {
                return Self.error(OpenAIError(status: 500, type: "server_error", code: "job_\(job.state.rawValue)", message: "the job ended \(job.state.rawValue): \(job.error ?? "no reason given")"), job: job.id)
            }
            return Self.json(.ok, responder.whole(job), job: job.id)
        case .busy?:
            await coordinator.closeExchange(session, cancel: job, reason: "no engine had room within \(limit) ms")
            return Self.error(.noCapacity(waitedMs: limit))
        case nil:
            await coordinator.closeExchange(session, cancel: job, reason: "the client went away")
            return Self.error(OpenAIError(status: 499, type: "server_error", message: "the client went away"))
        }
    }

    func untilClientGone<T: Sendable>(_ client: any Channel, _ body: @escaping @Sendable () async -> T) async -> T? {
        await Self.untilClientGone(client, body)
    }

    /// Runs `body`, unless the client's connection closes first (nil then; `body` is
    /// cancelled). The listener does not allow half-closed connections, so a client that
    /// goes away closes its channel at once.
    static func untilClientGone<T: Sendable>(_ client: any Channel, _ body: @escaping @Sendable () async -> T) async -> T? {
        await withTaskGroup(of: T?.self) { group in
            group.addTask { await body() }
            group.addTask {
                await ChannelClosed.wait(client)
                return nil
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
    }

    // MARK: helpers

    /// `Authorization: Bearer gk-<id>-<secret>` → the key's id and its secret's SHA-256.
    static func credential(_ request: Request) -> Result<ApiCredential, OpenAIError> {
        guard let header = request.headers[.authorization] else {
            return .failure(.unauthorized("no API key: send 'Authorization: Bearer <key>' (gantryctl apikeys create makes one)"))
        }
        var token = Substring(header.dropFirst(7))
        while token.first == " " { token.removeFirst() }
        while token.last == " " { token.removeLast() }
        guard header.hasPrefix("Bearer "), let (id, secret) = ApiKey.parse(String(token)) else {
            return .failure(.unauthorized("the API key is not valid"))
        }
        return .success(ApiCredential(keyID: id, secretHash: Array(SHA256.hash(data: Array(secret.utf8)))))
    }

    static func json(_ status: HTTPResponse.Status, _ text: String, job: JobID? = nil) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if let job { headers[jobIDHeader] = job.description }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func error(_ e: OpenAIError, job: JobID? = nil) -> Response {
        var response = json(HTTPResponse.Status(code: e.status), e.json, job: job)
        if let after = e.retryAfter { response.headers[.retryAfter] = String(after) }
        return response
    }
}

/// A request's context on the API listener: Hummingbird's, and the client's channel (to
/// notice the client going away).
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

/// Waits for a channel to close; a cancelled wait returns at once.
enum ChannelClosed {
    static func wait(_ channel: any Channel) async {
        let box = NIOLockedValueBox<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))
        let resume: @Sendable () -> Void = {
            box.withLockedValue { s in
                s.done = true
                defer { s.waiter = nil }
                return s.waiter
            }?.resume()
        }
        channel.closeFuture.whenComplete { _ in resume() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = box.withLockedValue { s -> Bool in
                    if s.done || Task.isCancelled { return true }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            resume()
        }
    }
}
