public import GantryCoordinator
import GantryModel
import GantryNet
import GantryRuntime
public import Hummingbird
import HTTPTypes
public import Logging
import NIOCore

/// The dashboard on the HTTP listener: `/ui/` (pages compiled into the binary, behind a
/// login) and its JSON API, `/api/v1/` (the same session cookie, or `Authorization: Bearer`
/// with the admin or read-only token). It only reads: nothing here changes the cluster.
public struct DashboardRoutes: Sendable {
    let coordinator: Coordinator
    let sessions: DashboardSessions
    let logger: Logger
    /// The listener serves HTTPS (`[tls] http`): cookies are `Secure`.
    let secure: Bool

    public init(coordinator: Coordinator, sessions: DashboardSessions, logger: Logger, secure: Bool = false) {
        self.coordinator = coordinator
        self.sessions = sessions
        self.logger = logger
        self.secure = secure
    }

    /// The pages that the one-page app renders (each answered with app.html).
    static let pages = ["/ui", "/ui/nodes", "/ui/jobs", "/ui/cost", "/ui/tenants", "/ui/nodes/:id", "/ui/jobs/:id"]

    public func add(to router: Router<APIRequestContext>) {
        router.get("/ui/login") { _, _ in Self.asset(DashboardAssets.login, type: "text/html; charset=utf-8") }
        router.post("/ui/login") { request, context in await self.login(request, from: context.channel.remoteAddress?.ipAddress ?? "unknown") }
        router.post("/ui/logout") { request, _ in self.logout(request) }
        router.get("/ui/assets/app.js") { _, _ in Self.asset(DashboardAssets.appJS, type: "text/javascript; charset=utf-8") }
        router.get("/ui/assets/style.css") { _, _ in Self.asset(DashboardAssets.styleCSS, type: "text/css; charset=utf-8") }
        for page in Self.pages {
            router.get(RouterPath(page)) { request, _ in
                switch self.session(request) {
                case .valid: Self.asset(DashboardAssets.app, type: "text/html; charset=utf-8")
                case .expired: Self.redirect("/ui/login?error=expired")
                case .invalid: Self.redirect("/ui/login")
                }
            }
        }
        DashboardAPI(coordinator: coordinator, sessions: sessions).add(to: router)
    }

    /// The session a request's cookie holds.
    func session(_ request: Request) -> DashboardSessions.Verdict {
        guard let value = request.cookies[DashboardSessions.cookieName]?.value else { return .invalid }
        return sessions.check(value, now: WallClock.now())
    }

    /// POST /ui/login with `token=…` (a form): a session cookie and the overview, or back
    /// to the form saying the token was wrong. Failures count against the address as failed
    /// handshakes do (`limits.auth_failures_per_minute`): past the limit, answers are held
    /// back, 1 s and doubling, up to 5 s.
    func login(_ request: Request, from address: String) async -> Response {
        let admission = coordinator.admission
        let penalty = admission.penalty(for: address, cap: 5)
        if penalty > 0 { try? await Task.sleep(for: .milliseconds(Int(penalty * 1000))) }
        var request = request
        guard let body = try? await request.collectBody(upTo: 16 << 10),
            let token = Self.formField("token", in: String(buffer: body)),
            let permission = sessions.permission(ofToken: token)
        else {
            admission.recordAuthFailure(address)
            logger.notice("dashboard login refused: wrong token", metadata: ["peer.address": "\(address)"])
            return Self.redirect("/ui/login?error=wrong-token")
        }
        var response = Self.redirect("/ui/")
        response.setCookie(Cookie(
            name: DashboardSessions.cookieName, value: sessions.issue(permission, now: WallClock.now()),
            maxAge: Int(sessions.ttlMs / 1000), path: "/", secure: secure, httpOnly: true, sameSite: .strict))
        logger.info("dashboard login", metadata: ["permission": "\(permission.rawValue)"])
        return response
    }

    func logout(_ request: Request) -> Response {
        if let value = request.cookies[DashboardSessions.cookieName]?.value { sessions.revoke(value, now: WallClock.now()) }
        var response = Self.redirect("/ui/login")
        response.setCookie(Cookie(name: DashboardSessions.cookieName, value: "", maxAge: 0, path: "/", secure: secure, httpOnly: true, sameSite: .strict))
        return response
    }

    /// A field of an `application/x-www-form-urlencoded` body.
    static func formField(_ name: String, in body: String) -> String? {
        for pair in body.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2, kv[0] == name else { continue }
            return percentDecoded(String(kv[1]))
        }
        return nil
    }

    static func percentDecoded(_ s: String) -> String? {
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            switch b {
            case UInt8(ascii: "+"): out.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                out.append(v)
                bytes = bytes.dropFirst(2)
            default: out.append(b)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// The headers every dashboard answer carries: nothing from elsewhere, never framed,
    /// never cached (pages show live data).
    static func secured(_ headers: HTTPFields) -> HTTPFields {
        var h = headers
        h[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        h[.xContentTypeOptions] = "nosniff"
        h[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        h[.cacheControl] = "no-store"
        return h
    }

    static func asset(_ bytes: [UInt8], type: String) -> Response {
        Response(status: .ok, headers: secured([.contentType: type]), body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: secured([.location: location]))
    }
}
