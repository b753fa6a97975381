public import GantryModel
import Crypto

/// Who is connecting. Decided by the first frame (Hello), never by the port.
public enum PeerRole: String, Sendable, Hashable {
    case agent, admin
}

public struct Hello: Hashable, Sendable {
    public var minVersion: UInt32
    public var maxVersion: UInt32
    /// Nil when the peer named a role this version does not know.
    public var role: PeerRole?
    public var nodeID: String
    public var software: String

    public init(minVersion: UInt32 = ProtocolVersion.minSupported, maxVersion: UInt32 = ProtocolVersion.current, role: PeerRole?, nodeID: String = "", software: String = "") {
        self.minVersion = minVersion
        self.maxVersion = maxVersion
        self.role = role
        self.nodeID = nodeID
        self.software = software
    }
}

public struct Challenge: Hashable, Sendable {
    public var version: UInt32
    public var nonce: [UInt8]
    public var serverID: String

    public init(version: UInt32, nonce: [UInt8], serverID: String) {
        self.version = version
        self.nonce = nonce
        self.serverID = serverID
    }
}

public struct Welcome: Hashable, Sendable {
    public var version: UInt32
    public var sessionID: String
    public var heartbeatIntervalMs: UInt32
    public var ttlMs: UInt32
    public var maxFrameBytes: UInt32
    public var software: String
    /// For admin peers: what the token allows. Nil for agents.
    public var permission: Permission?

    public init(version: UInt32, sessionID: String, heartbeatIntervalMs: UInt32 = 0, ttlMs: UInt32 = 0, maxFrameBytes: UInt32 = 0, software: String = "", permission: Permission? = nil) {
        self.version = version
        self.sessionID = sessionID
        self.heartbeatIntervalMs = heartbeatIntervalMs
        self.ttlMs = ttlMs
        self.maxFrameBytes = maxFrameBytes
        self.software = software
        self.permission = permission
    }
}

public struct Reject: Hashable, Sendable {
    public var error: GantryError
    public var minVersion: UInt32
    public var maxVersion: UInt32

    public init(_ error: GantryError, minVersion: UInt32 = 0, maxVersion: UInt32 = 0) {
        self.error = error
        self.minVersion = minVersion
        self.maxVersion = maxVersion
    }
}

/// The HMAC challenge/response. The shared secret never crosses the wire:
///
///     mac = HMAC-SHA256(key: token, data: "gantry-auth-v1" 0x00 role 0x00 node_id 0x00 nonce)
///
/// Binding the role and node id means a response cannot be replayed as another node or
/// role; the fresh nonce means it cannot be replayed on another connection.
public enum HandshakeAuth {
    public static let context = Array("gantry-auth-v1".utf8)
    public static let nonceBytes = 32

    public static func mac(token: Secret, role: PeerRole, nodeID: String, nonce: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message(role: role, nodeID: nodeID, nonce: nonce), using: token.key))
    }

    /// Constant-time check of a peer's MAC.
    public static func verify(_ mac: [UInt8], token: Secret, role: PeerRole, nodeID: String, nonce: [UInt8]) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: message(role: role, nodeID: nodeID, nonce: nonce), using: token.key)
    }

    static func message(role: PeerRole, nodeID: String, nonce: [UInt8]) -> [UInt8] {
        var m = context
        m.append(0)
        m += Array(role.rawValue.utf8)
        m.append(0)
        m += Array(nodeID.utf8)
        m.append(0)
        m += nonce
        return m
    }
}

/// A shared secret (join or admin token). Its description never shows the value.
public struct Secret: Sendable, Hashable, CustomStringConvertible {
    let key: SymmetricKey
    public let byteCount: Int

    /// Leading and trailing whitespace (a token file's newline) is not part of the secret.
    public init?(_ text: String) {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { return nil }
        self.key = SymmetricKey(data: Array(trimmed.utf8))
        self.byteCount = trimmed.utf8.count
    }

    public var description: String { "<secret, \(byteCount) bytes>" }

    /// A key for `purpose` derived from this secret (HMAC-SHA256 of the purpose), e.g. to
    /// sign dashboard sessions: it changes when the token does.
    public func derivedKey(_ purpose: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(purpose.utf8), using: key))
    }

    public static func == (a: Secret, b: Secret) -> Bool {
        a.key.withUnsafeBytes { x in b.key.withUnsafeBytes { y in safeCompare(x, y) } }
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(byteCount) }
}

private func safeCompare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
