/// Error codes shared by the wire protocol and the core. The raw values are the
/// protocol's `ErrorCode` numbers.
public enum ErrorCode: Int, Sendable, CaseIterable {
    case unspecified = 0
    case badFrame = 1
    case frameTooLarge = 2
    case unexpectedMessage = 3
    case handshakeRequired = 10
    case handshakeTimeout = 11
    case unsupportedVersion = 12
    case authFailed = 13
    case badRole = 14
    case badHello = 15
    case badRequest = 20
    case notFound = 21
    case permissionDenied = 22
    case conflict = 23
    case queueFull = 24
    case limitExceeded = 25
    case staleAttempt = 26
    case unavailable = 27
    case idleTimeout = 28
    case unsupported = 29
    case `internal` = 30

    /// A short snake_case name, used in logs and metrics labels.
    public var name: String {
        switch self {
        case .unspecified: "unspecified"
        case .badFrame: "bad_frame"
        case .frameTooLarge: "frame_too_large"
        case .unexpectedMessage: "unexpected_message"
        case .handshakeRequired: "handshake_required"
        case .handshakeTimeout: "handshake_timeout"
        case .unsupportedVersion: "unsupported_version"
        case .authFailed: "auth_failed"
        case .badRole: "bad_role"
        case .badHello: "bad_hello"
        case .badRequest: "bad_request"
        case .notFound: "not_found"
        case .permissionDenied: "permission_denied"
        case .conflict: "conflict"
        case .queueFull: "queue_full"
        case .limitExceeded: "limit_exceeded"
        case .staleAttempt: "stale_attempt"
        case .unavailable: "unavailable"
        case .idleTimeout: "idle_timeout"
        case .unsupported: "unsupported"
        case .internal: "internal"
        }
    }
}

/// An error with a protocol code and a message for humans.
public struct GantryError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) (\(code.name))" }
}
