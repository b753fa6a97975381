import GantryCoordinatorCore
import Crypto
public import GantryModel
import GantryRuntime

/// What an API request's HTTP handler hears from the core: the answer to the request (the
/// job's id, or why not), then the job's events until the final one.
public enum ExchangeEvent: Sendable {
    case answer(Result<AdminResponse, GantryError>)
    case event(JobEvent)
}

extension Coordinator {
    /// An API request: the core authenticates it and submits its job, watched by a session
    /// of its own whose answer and events come out of the returned stream.
    func openExchange(_ credential: ApiCredential, spec: JobSpec) -> (SessionID, AsyncStream<ExchangeEvent>) {
        let id = newSessionID()
        let (stream, continuation) = AsyncStream.makeStream(of: ExchangeEvent.self, bufferingPolicy: .unbounded)
        registerExchange(id, continuation)
        execute(core.apiRequest(credential, spec: spec, session: id, now: WallClock.now()))
        return (id, stream)
    }

    /// The request is over: its watch ends and, if `cancel` names its job (the client went
    /// away, or nothing had room in time), the job is cancelled: the engine stops and the
    /// receipt bills the tokens produced so far.
    func closeExchange(_ id: SessionID, cancel job: JobID?, reason: String) {
        unregisterExchange(id)
        let now = WallClock.now()
        execute(core.sessionClosed(id, now: now))
        if let job { execute(core.apiCancel(job, reason: reason, now: now)) }
    }

    func apiModels(_ credential: ApiCredential) -> Result<[String], GantryError> {
        core.apiModels(credential)
    }
}

extension Coordinator {
    /// A fresh API key, `gk-<id>-<secret>`: a 10-character id and a 32-character secret
    /// (160 random bits), both lower-case base32; gantryd keeps the secret's SHA-256.
    static func newApiKey() -> CoordinatorCore.NewApiKey {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
        func random(_ n: Int) -> String { String((0..<n).map { _ in alphabet[Int(rng.next() % 32)] }) }
        let id = random(10)
        let secret = random(32)
        return CoordinatorCore.NewApiKey(id: id, secretHash: Array(SHA256.hash(data: Array(secret.utf8))), key: ApiKey.prefix + id + "-" + secret)
    }
}

extension Coordinator {
    /// A read-only control request from inside gantryd (the dashboard's API), answered by
    /// the core exactly as gantryctl's would be, through a session of its own.
    public func ask(_ request: AdminRequest) async -> Result<AdminResponse, GantryError> {
        guard request.requiredPermission == .readOnly else {
            return .failure(GantryError(.permissionDenied, "the dashboard only reads"))
        }
        let id = newSessionID()
        let (stream, continuation) = AsyncStream.makeStream(of: ExchangeEvent.self, bufferingPolicy: .unbounded)
        registerExchange(id, continuation)
        execute(core.admin(request, requestID: 1, session: id, permission: .readOnly, now: WallClock.now()))
        var result: Result<AdminResponse, GantryError> = .failure(GantryError(.unavailable, "gantryd is stopping"))
        for await event in stream {
            if case .answer(let answer) = event {
                result = answer
                break
            }
        }
        unregisterExchange(id)
        execute(core.sessionClosed(id, now: WallClock.now()))
        return result
    }
}
