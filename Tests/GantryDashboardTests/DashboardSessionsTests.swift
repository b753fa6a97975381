@testable import GantryDashboard
import GantryModel
import GantryWire
import Testing

@Suite("Dashboard sessions: signed, expiring, revocable; tokens checked in constant time")
struct DashboardSessionsTests {
    let admin = Secret("admin-token")!
    let reader = Secret("reader-token")!
    let t0 = Timestamp(unixMillis: 1_800_000_000_000)

    @Test("the admin and read-only tokens log in with their permission; anything else does not")
    func tokens() {
        let s = DashboardSessions(admin: admin, readOnly: reader, ttlMs: 60_000)
        #expect(s.permission(ofToken: "admin-token\n") == .admin)
        #expect(s.permission(ofToken: "reader-token") == .readOnly)
        #expect(s.permission(ofToken: "reader-toke") == nil)
        #expect(s.permission(ofToken: "") == nil)
        #expect(DashboardSessions(admin: admin, readOnly: nil, ttlMs: 1).permission(ofToken: "reader-token") == nil)
    }

    @Test("a session is valid until it expires, then says so")
    func expiry() {
        let s = DashboardSessions(admin: admin, readOnly: reader, ttlMs: 60_000)
        let session = s.issue(.readOnly, now: t0)
        #expect(s.check(session, now: t0) == .valid(.readOnly))
        #expect(s.check(session, now: Timestamp(unixMillis: t0.unixMillis + 59_999)) == .valid(.readOnly))
        #expect(s.check(session, now: Timestamp(unixMillis: t0.unixMillis + 60_000)) == .expired)
        #expect(s.check(s.issue(.admin, now: t0), now: t0) == .valid(.admin))
    }

    @Test("a forged, altered or truncated session is refused", arguments: [
        "", "ro", "ro.1.2.3", "admin.99999999999999.00.", "x.y.z.w.v",
    ])
    func forged(_ text: String) {
        let s = DashboardSessions(admin: admin, readOnly: reader, ttlMs: 60_000)
        #expect(s.check(text, now: t0) == .invalid)
    }

    @Test("changing the role or the expiry breaks the signature")
    func tampered() {
        let s = DashboardSessions(admin: admin, readOnly: reader, ttlMs: 60_000)
        let session = s.issue(.readOnly, now: t0)
        let parts = session.split(separator: ".").map(String.init)
        #expect(s.check((["admin"] + parts.dropFirst()).joined(separator: "."), now: t0) == .invalid)
        #expect(s.check([parts[0], "9999999999999", parts[2], parts[3]].joined(separator: "."), now: t0) == .invalid)
    }

    @Test("sessions survive a restart with the same tokens, and end when a token changes")
    func restartAndRotation() {
        let session = DashboardSessions(admin: admin, readOnly: reader, ttlMs: 60_000).issue(.readOnly, now: t0)
        let restarted = DashboardSessions(admin: admin, readOnly: reader, ttlMs: 60_000)
        #expect(restarted.check(session, now: t0) == .valid(.readOnly))
        restarted.update(admin: admin, readOnly: Secret("new-reader")!)
        #expect(restarted.check(session, now: t0) == .invalid)
        #expect(restarted.permission(ofToken: "reader-token") == nil)
    }

    @Test("a logged-out session is refused; others are not")
    func logout() {
        let s = DashboardSessions(admin: admin, readOnly: reader, ttlMs: 60_000)
        let a = s.issue(.readOnly, now: t0)
        let b = s.issue(.readOnly, now: t0)
        s.revoke(a, now: t0)
        #expect(s.check(a, now: t0) == .invalid)
        #expect(s.check(b, now: t0) == .valid(.readOnly))
    }
}

@Suite("Dashboard routes: form fields, buckets")
struct DashboardRouteTests {
    @Test("a form field is percent-decoded; a missing or broken one is nil", arguments: [
        ("token=abc", "abc"), ("a=1&token=a%2Bb%3D%0A", "a+b=\n"), ("token=a+b", "a b"), ("token=", ""),
        ("tok=abc", nil), ("token=%zz", nil), ("token=%4", nil),
    ] as [(String, String?)])
    func formField(_ body: String, _ expected: String?) {
        #expect(DashboardRoutes.formField("token", in: body) == expected)
    }

    @Test("history buckets keep a window to about 360 points", arguments: [
        (60, 1), (360, 1), (361, 5), (1440, 5), (10_080, 60), (43_200, 180), (1_000_000, 1440),
    ] as [(Int64, Int64)])
    func step(_ minutes: Int64, _ expected: Int64) {
        #expect(DashboardAPI.step(minutes: minutes) == expected)
    }
}
