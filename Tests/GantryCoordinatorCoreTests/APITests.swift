import GantryCoordinatorCore
import GantryModel
import GantryPersistence
import Testing

@Suite("API keys and API requests")
struct APITests {
    static let secret: [UInt8] = Array(repeating: 7, count: 32)
    static let http = SessionID(5000)

    /// A harness with one node serving "m" and one key for tenant "acme".
    static func setUp(_ spec: ApiKeySpec = ApiKeySpec(tenant: "acme", priority: 3)) -> (Harness, ApiKey) {
        var h = Harness()
        h.register("gpu-1", session: 1, slots: 2)
        let out = h.core.createApiKey(
            spec, newKey: .init(id: "k1", secretHash: secret, key: "gk-k1-secret"), requestID: 1, session: h.admin, permission: .admin, now: h.now)
        #expect(out.persisted.contains { if case .apiKey(let k) = $0 { k.id == "k1" && k.secretHash == secret } else { false } })
        #expect(out.contains { if case .durable(.reply(_, _, .success(.apiKey(_, "gk-k1-secret")))) = $0 { true } else { false } })
        return (h, ApiKey(id: "k1", spec: spec, secretHash: secret, createdAt: h.now))
    }

    static func answer(_ out: [CoordinatorDirective]) -> Result<AdminResponse, GantryError>? {
        for d in out.unwrapped { if case .reply(http, 1, let r) = d { return r } }
        return nil
    }

    @Test("a request with a good key becomes an interactive job of the key's tenant and priority")
    func accepted() {
        var (h, _) = Self.setUp()
        let out = h.core.apiRequest(ApiCredential(keyID: "k1", secretHash: Self.secret), spec: JobSpec(model: "m", prompt: "hi"), session: Self.http, now: h.now)
        guard case .success(.submitted(let ids))? = Self.answer(out) else { Issue.record("\(out)"); return }
        let job = h.job(ids[0])
        #expect(job.spec.tenant == "acme" && job.spec.priority == 3 && job.spec.interactive && job.spec.apiKeyID == "k1")
        #expect(out.assignments.count == 1, "placed at once, in the same event as the submit")
        #expect(out.contains { if case .jobEvent(Self.http, 1, _) = $0 { true } else { false } }, "the request watches its job")
    }

    @Test("refusals, each with its reason", arguments: [
        ("k1", [UInt8](repeating: 8, count: 32), "m", ErrorCode.authFailed),
        ("nope", [UInt8](repeating: 7, count: 32), "m", .authFailed),
        ("k1", [UInt8](repeating: 7, count: 32), "unserved", .notFound),
    ])
    func refused(_ id: String, _ hash: [UInt8], _ model: String, _ code: ErrorCode) {
        var (h, _) = Self.setUp()
        let out = h.core.apiRequest(ApiCredential(keyID: id, secretHash: hash), spec: JobSpec(model: model, prompt: "hi"), session: Self.http, now: h.now)
        guard case .failure(let e)? = Self.answer(out) else { Issue.record("\(out)"); return }
        #expect(e.code == code)
        #expect(h.core.queueDepth == 0 && out.assignments.isEmpty)
    }

    @Test("a key limited to models refuses others; a revoked key refuses all")
    func modelsAndRevocation() {
        var (h, _) = Self.setUp(ApiKeySpec(tenant: "acme", models: ["other"]))
        let credential = ApiCredential(keyID: "k1", secretHash: Self.secret)
        guard case .failure(let e)? = Self.answer(h.core.apiRequest(credential, spec: JobSpec(model: "m", prompt: "x"), session: Self.http, now: h.now)) else {
            Issue.record("accepted"); return
        }
        #expect(e.code == .notFound)
        #expect(h.core.apiModels(credential) == .success([]))
        let (revoked, out) = h.request(.revokeApiKey("k1"))
        guard case .success(.apiKey(let key, nil))? = revoked else { Issue.record("\(String(describing: revoked))"); return }
        #expect(key.revokedAt != nil && key.secretHash.isEmpty)
        #expect(out.persisted.contains { if case .apiKey(let k) = $0 { k.revokedAt != nil } else { false } })
        guard case .failure(let e2) = h.core.apiModels(credential) else { Issue.record("still valid"); return }
        #expect(e2.code == .authFailed && e2.message.contains("revoked"))
    }

    @Test("max_inflight: the key's excess requests get limit_exceeded until one finishes")
    func inflightLimit() {
        var (h, _) = Self.setUp(ApiKeySpec(tenant: "acme", maxInflight: 1))
        let credential = ApiCredential(keyID: "k1", secretHash: Self.secret)
        let first = h.core.apiRequest(credential, spec: JobSpec(model: "m", prompt: "a"), session: Self.http, now: h.now)
        let ref = first.assignments[0].assignment.ref
        guard case .failure(let e)? = Self.answer(h.core.apiRequest(credential, spec: JobSpec(model: "m", prompt: "b"), session: Self.http, now: h.now)) else {
            Issue.record("accepted"); return
        }
        #expect(e.code == .limitExceeded)
        _ = h.result(ref, session: 1)
        guard case .success? = Self.answer(h.core.apiRequest(credential, spec: JobSpec(model: "m", prompt: "c"), session: Self.http, now: h.now)) else {
            Issue.record("still refused"); return
        }
    }

    @Test("a live request whose attempt failed after streaming text is not retried; one that streamed nothing is")
    func noRetryAfterText() {
        var (h, _) = Self.setUp()
        let credential = ApiCredential(keyID: "k1", secretHash: Self.secret)
        let a = h.core.apiRequest(credential, spec: JobSpec(model: "m", prompt: "a"), session: Self.http, now: h.now)
        let ref = a.assignments[0].assignment.ref
        _ = h.agent(.progress(JobProgress(ref: ref, outputDelta: "the", completionTokens: 1, firstTokenAt: h.now)), session: 1)
        let failed = h.result(ref, session: 1, outcome: .failed, error: "engine crashed")
        #expect(failed.assignments.isEmpty)
        #expect(h.job(ref.job).state == .failed)
        let b = h.core.apiRequest(credential, spec: JobSpec(model: "m", prompt: "b"), session: Self.http, now: h.now)
        let other = b.assignments[0].assignment.ref
        let retried = h.result(other, session: 1, outcome: .failed, error: "engine refused")
        #expect(retried.assignments.count == 1, "nothing was streamed, so it is placed again")
    }

    @Test("keys survive a restart; their requests in flight are counted again")
    func restore() {
        var core = CoordinatorCore(now: Timestamp(unixMillis: 1000))
        let key = ApiKey(id: "k1", spec: ApiKeySpec(tenant: "acme", maxInflight: 1), secretHash: Self.secret, createdAt: Timestamp(unixMillis: 1))
        var running = Job(id: JobID(rawValue: 1 << 20), spec: JobSpec(model: "m", prompt: "p", interactive: true, apiKeyID: "k1"), submittedAt: Timestamp(unixMillis: 2))
        running.state = .queued
        core.restore(jobs: [running], nodes: [], apiKeys: [key], now: Timestamp(unixMillis: 1000))
        guard case .success = core.apiModels(ApiCredential(keyID: "k1", secretHash: Self.secret)) else { Issue.record("key lost"); return }
    }
}
