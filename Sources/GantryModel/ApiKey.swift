/// What an API key of the OpenAI-compatible API allows: whose requests they are (the
/// tenant, for fairness, reports and receipts), how urgent, and which models.
public struct ApiKeySpec: Hashable, Sendable {
    public var tenant: String
    public var priority: Int
    /// Empty: any model.
    public var models: [String]
    /// A label for people.
    public var name: String
    /// Requests at once; 0: no limit but the queue's.
    public var maxInflight: Int

    public init(tenant: String, priority: Int = 0, models: [String] = [], name: String = "", maxInflight: Int = 0) {
        self.tenant = tenant
        self.priority = priority
        self.models = models
        self.name = name
        self.maxInflight = maxInflight
    }
}

/// An API key as gantryd keeps it: its public id and the SHA-256 of its secret part, never
/// the key itself. Keys look like `gk-<id>-<secret>`.
public struct ApiKey: Hashable, Sendable {
    public var id: String
    public var spec: ApiKeySpec
    public var secretHash: [UInt8]
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?

    public init(id: String, spec: ApiKeySpec, secretHash: [UInt8], createdAt: Timestamp, revokedAt: Timestamp? = nil) {
        self.id = id
        self.spec = spec
        self.secretHash = secretHash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    public static let prefix = "gk-"

    /// Splits `gk-<id>-<secret>` into its id and secret; nil when it is not shaped so.
    public static func parse(_ key: String) -> (id: String, secret: String)? {
        guard key.hasPrefix(prefix) else { return nil }
        let rest = key.dropFirst(prefix.count)
        guard let dash = rest.firstIndex(of: "-") else { return nil }
        let id = rest[..<dash]
        let secret = rest[rest.index(after: dash)...]
        guard (4...32).contains(id.count), (16...128).contains(secret.count),
            id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }),
            secret.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
        else { return nil }
        return (String(id), String(secret))
    }
}

/// A request's credentials as the API listener read them: the key's id, and the SHA-256
/// of its secret (computed by the listener; the core compares).
public struct ApiCredential: Hashable, Sendable {
    public var keyID: String
    public var secretHash: [UInt8]

    public init(keyID: String, secretHash: [UInt8]) {
        self.keyID = keyID
        self.secretHash = secretHash
    }
}
