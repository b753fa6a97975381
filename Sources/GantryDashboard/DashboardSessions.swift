import Crypto
public import GantryModel
public import GantryWire
import NIOConcurrencyHelpers

/// Dashboard logins: the admin or read-only token, exchanged for a signed session cookie.
///
/// A session is `ROLE.EXPIRES.NONCE.MAC`: the permission, when it ends (Unix ms), 96 random
/// bits, and an HMAC-SHA256 of the rest under a key derived from both tokens. Nothing is
/// stored for a live session, so sessions survive a restart and move with a failover (every
/// gantryd of a cluster has the same tokens); changing either token ends them all. A
/// logout is remembered (in memory, until the session would have expired anyway).
/// Clock readings come in as arguments.
public final class DashboardSessions: Sendable {
    public static let cookieName = "gantry_session"

    struct Keys {
        var admin: Secret
        var readOnly: Secret?
        var signing: SymmetricKey
    }

    /// The tokens (reloadable) and the signing key derived from them.
    let keys: NIOLockedValueBox<Keys>
    public let ttlMs: Int64
    /// Logged-out sessions' nonces, until they expire.
    let revoked = NIOLockedValueBox<[String: Int64]>([:])

    public init(admin: Secret, readOnly: Secret?, ttlMs: Int64) {
        self.keys = NIOLockedValueBox(Self.keys(admin: admin, readOnly: readOnly))
        self.ttlMs = ttlMs
    }

    static func keys(admin: Secret, readOnly: Secret?) -> Keys {
        var material = admin.derivedKey("gantry dashboard sessions v1")
        material += readOnly?.derivedKey("gantry dashboard sessions v1") ?? []
        return Keys(admin: admin, readOnly: readOnly, signing: SymmetricKey(data: Array(SHA256.hash(data: material))))
    }

    /// New tokens (a config reload): sessions signed under the old ones end.
    public func update(admin: Secret, readOnly: Secret?) {
        let fresh = Self.keys(admin: admin, readOnly: readOnly)
        keys.withLockedValue { $0 = fresh }
    }

    /// The permission a token carries, or nil when it is neither token.
    public func permission(ofToken token: String) -> Permission? {
        guard let candidate = Secret(token) else { return nil }
        let k = keys.withLockedValue { $0 }
        if candidate == k.admin { return .admin }
        if let readOnly = k.readOnly, candidate == readOnly { return .readOnly }
        return nil
    }

    /// A new session for `permission`, valid for `ttlMs` from `now`.
    public func issue(_ permission: Permission, now: Timestamp) -> String {
        var rng = SystemRandomNumberGenerator()
        let nonce = (0..<12).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let body = "\(permission == .admin ? "admin" : "ro").\(now.unixMillis + ttlMs).\(Self.hex(nonce))"
        return body + "." + mac(body)
    }

    public enum Verdict: Equatable, Sendable {
        case valid(Permission)
        case expired
        case invalid
    }

    /// What a cookie's session is worth at `now`.
    public func check(_ session: String, now: Timestamp) -> Verdict {
        let parts = session.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, let expires = Int64(parts[1]) else { return .invalid }
        let body = parts[0...2].joined(separator: ".")
        guard Self.equalInConstantTime(Array(mac(body).utf8), Array(parts[3].utf8)) else { return .invalid }
        let permission: Permission
        switch parts[0] {
        case "admin": permission = .admin
        case "ro": permission = .readOnly
        default: return .invalid
        }
        if revoked.withLockedValue({ $0[String(parts[2])] != nil }) { return .invalid }
        return now.unixMillis < expires ? .valid(permission) : .expired
    }

    /// Logs a session out (a forged or expired one is ignored).
    public func revoke(_ session: String, now: Timestamp) {
        guard case .valid = check(session, now: now) else { return }
        let parts = session.split(separator: ".", omittingEmptySubsequences: false)
        let expires = Int64(parts[1]) ?? now.unixMillis
        revoked.withLockedValue { r in
            r = r.filter { $0.value > now.unixMillis }
            r[String(parts[2])] = expires
        }
    }

    func mac(_ body: String) -> String {
        Self.hex(Array(HMAC<SHA256>.authenticationCode(for: Array(body.utf8), using: keys.withLockedValue { $0.signing })))
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func equalInConstantTime(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
