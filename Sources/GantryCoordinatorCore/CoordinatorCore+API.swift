public import GantryModel
import GantryPersistence

/// The OpenAI-compatible API's side of the core: API keys (which fix a request's tenant,
/// priority and models), and requests, which become jobs like any other.
extension CoordinatorCore {
    /// A key the shell generated (the core has no randomness): its id, the SHA-256 of its
    /// secret, and the whole key, which the answer shows once and nothing keeps.
    public struct NewApiKey: Sendable {
        public var id: String
        public var secretHash: [UInt8]
        public var key: String

        public init(id: String, secretHash: [UInt8], key: String) {
            self.id = id
            self.secretHash = secretHash
            self.key = key
        }
    }

    /// `apikeys create`: stores the key's hash, and answers with the key once it is durable.
    public mutating func createApiKey(
        _ spec: ApiKeySpec, newKey: NewApiKey, requestID: UInt64, session: SessionID, permission: Permission, now: Timestamp
    ) -> [CoordinatorDirective] {
        guard permission == .admin else {
            return [.reply(session, requestID: requestID, .failure(GantryError(.permissionDenied, "this token is \(permission.rawValue); apikeys create needs an admin token")))]
        }
        if let problem = validate(spec) { return [.reply(session, requestID: requestID, .failure(problem))] }
        guard apiKeys[newKey.id] == nil else {
            return [.reply(session, requestID: requestID, .failure(GantryError(.conflict, "an API key with id \(newKey.id) exists; try again")))]
        }
        let key = ApiKey(id: newKey.id, spec: spec, secretHash: newKey.secretHash, createdAt: now)
        apiKeys[key.id] = key
        pendingKeys.append(key)
        return withPersistence([durable(.reply(session, requestID: requestID, .success(.apiKey(key.listed, key: newKey.key))))])
    }

    func validate(_ spec: ApiKeySpec) -> GantryError? {
        if spec.tenant.isEmpty || spec.tenant.utf8.count > 128 { return GantryError(.badRequest, "an API key needs a tenant of 1...128 bytes (--tenant)") }
        if spec.models.contains(where: { $0.isEmpty || $0.utf8.count > 256 }) { return GantryError(.badRequest, "a model name must be 1...256 bytes") }
        if spec.name.utf8.count > 256 { return GantryError(.badRequest, "the name is longer than 256 bytes") }
        if spec.maxInflight < 0 { return GantryError(.badRequest, "max_inflight must not be negative") }
        return nil
    }

    mutating func revokeApiKey(_ id: String, now: Timestamp) -> (Result<AdminResponse, GantryError>, [CoordinatorDirective]) {
        guard var key = apiKeys[id] else { return (.failure(GantryError(.notFound, "no API key has id \(id)")), []) }
        if key.revokedAt == nil {
            key.revokedAt = now
            apiKeys[id] = key
            pendingKeys.append(key)
        }
        return (.success(.apiKey(key.listed, key: nil)), [])
    }

    /// A request from the API: authenticated by its key, checked against the key's models
    /// and limits, then submitted as an interactive job of the key's tenant and priority,
    /// watched by `session` (the request's HTTP exchange). The answer is the job's id (once
    /// durable, with its assignment if a slot was free) and then its events, as a watched
    /// submit gets them; an error is the answer instead.
    public mutating func apiRequest(_ credential: ApiCredential, spec: JobSpec, session: SessionID, now: Timestamp) -> [CoordinatorDirective] {
        let refuse = { (e: GantryError) in [CoordinatorDirective.reply(session, requestID: 1, .failure(e))] }
        let key: ApiKey
        switch authenticate(credential) {
        case .success(let k): key = k
        case .failure(let e): return refuse(e)
        }
        if !key.spec.models.isEmpty, !key.spec.models.contains(spec.model) {
            return refuse(GantryError(.notFound, "the model '\(spec.model)' does not exist or this API key may not use it"))
        }
        guard nodesByModel[spec.model]?.isEmpty == false else {
            return refuse(GantryError(.notFound, "the model '\(spec.model)' is not served by any node"))
        }
        let inflight = apiInflight[key.id] ?? 0
        if key.spec.maxInflight > 0, inflight >= key.spec.maxInflight {
            return refuse(GantryError(.limitExceeded, "this API key has \(inflight) requests in flight, its limit (max_inflight)"))
        }
        var spec = spec
        spec.tenant = key.spec.tenant
        spec.priority = key.spec.priority
        spec.interactive = true
        spec.apiKeyID = key.id
        let (result, extra) = submit([spec], now: now, watcher: Watcher(session: session, requestID: 1))
        if case .success = result { apiInflight[key.id, default: 0] += 1 }
        return withPersistence(sendEarly(durable(.reply(session, requestID: 1, result)), extra))
    }

    /// `GET /v1/models`: the models ready, healthy nodes serve now (those the key may use).
    public func apiModels(_ credential: ApiCredential) -> Result<[String], GantryError> {
        let key: ApiKey
        switch authenticate(credential) {
        case .success(let k): key = k
        case .failure(let e): return .failure(e)
        }
        var models = Set<String>()
        for node in nodes.values where node.state == .ready && node.session != nil {
            for engine in node.engines where engine.healthy { models.formUnion(engine.models) }
        }
        if !key.spec.models.isEmpty { models.formIntersection(key.spec.models) }
        return .success(models.sorted())
    }

    /// The client of an API request went away: its job is cancelled (the engine stops, and
    /// the receipt bills the tokens produced so far).
    public mutating func apiCancel(_ id: JobID, reason: String, now: Timestamp) -> [CoordinatorDirective] {
        guard let job = jobs[id]?.job, !job.state.isTerminal else { return [] }
        let (_, out) = cancel(id, reason: reason, now: now)
        return withPersistence(out)
    }

    func authenticate(_ credential: ApiCredential) -> Result<ApiKey, GantryError> {
        guard let key = apiKeys[credential.keyID], sameBytes(key.secretHash, credential.secretHash) else {
            return .failure(GantryError(.authFailed, "the API key is not valid"))
        }
        guard key.revokedAt == nil else { return .failure(GantryError(.authFailed, "the API key was revoked")) }
        return .success(key)
    }
}

extension ApiKey {
    /// As listings show it: without its secret's hash.
    var listed: ApiKey {
        var k = self
        k.secretHash = []
        return k
    }
}

/// Equal bytes, compared in time that does not depend on where they differ.
func sameBytes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count, !a.isEmpty else { return false }
    var diff: UInt8 = 0
    for i in a.indices { diff |= a[i] ^ b[i] }
    return diff == 0
}
