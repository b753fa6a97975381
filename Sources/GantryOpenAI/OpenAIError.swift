public import GantryModel

/// An error as the OpenAI API shapes it: `{"error": {"message", "type", "code"}}`, with
/// its HTTP status (and, for 429 and 503, a `Retry-After` in seconds).
public struct OpenAIError: Error, Hashable, Sendable {
    public var status: Int
    public var type: String
    public var code: String?
    public var message: String
    public var retryAfter: Int?

    public init(status: Int, type: String, code: String? = nil, message: String, retryAfter: Int? = nil) {
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public static func badRequest(_ message: String, code: String? = nil) -> OpenAIError {
        OpenAIError(status: 400, type: "invalid_request_error", code: code, message: message)
    }

    public static func unauthorized(_ message: String) -> OpenAIError {
        OpenAIError(status: 401, type: "invalid_request_error", code: "invalid_api_key", message: message)
    }

    public static func tooLarge(limit: Int) -> OpenAIError {
        OpenAIError(status: 413, type: "invalid_request_error", code: "request_too_large", message: "the request body is over \(limit) bytes (api.max_body_bytes)")
    }

    public static func noCapacity(waitedMs: Int64) -> OpenAIError {
        OpenAIError(
            status: 503, type: "server_error", code: "no_capacity",
            message: "no engine had room for this request within \(waitedMs) ms (api.max_queue_wait); retry later", retryAfter: 1)
    }

    /// The HTTP face of a coordinator error.
    public init(_ e: GantryError) {
        switch e.code {
        case .authFailed, .permissionDenied: self = .unauthorized(e.message)
        case .notFound: self.init(status: 404, type: "invalid_request_error", code: "model_not_found", message: e.message)
        case .queueFull: self.init(status: 429, type: "requests", code: "queue_full", message: e.message, retryAfter: 1)
        case .limitExceeded: self.init(status: 429, type: "requests", code: "rate_limit_exceeded", message: e.message, retryAfter: 1)
        case .badRequest: self = .badRequest(e.message)
        case .unavailable: self.init(status: 503, type: "server_error", code: "unavailable", message: e.message, retryAfter: 1)
        default: self.init(status: 500, type: "server_error", code: e.code.name, message: e.message)
        }
    }

    public var json: String {
        var s = "{\"error\":{\"message\":"
        JSONText.string(message, into: &s)
        s += ",\"type\":"
        JSONText.string(type, into: &s)
        s += ",\"param\":null,\"code\":"
        if let code { JSONText.string(code, into: &s) } else { s += "null" }
        return s + "}}"
    }
}
