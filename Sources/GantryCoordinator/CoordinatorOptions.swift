public import GantryConfig
import GantryModel
public import GantryWire
public import GantryNet
public import NIOSSL

/// What the coordinator shell runs with: the parsed config (whose `settings` belong to the
/// core), and what the config names, resolved: the token files read, the TLS context built.
public struct CoordinatorOptions: Sendable {
    public var config: CoordinatorConfig
    public var credentials: Credentials
    /// TLS on the protocol listener, if configured.
    public var tls: NIOSSLContext?
    /// TLS on the HTTP and API listeners (`[tls] http`, `[tls] api`): no client certificates.
    public var httpTLS: NIOSSLContext?
    /// Called when the store cannot be written; gantryd exits.
    public var onStoreFailure: @Sendable (any Error) -> Void = { _ in }

    public init(config: CoordinatorConfig, credentials: Credentials, tls: NIOSSLContext? = nil) {
        self.config = config
        self.credentials = credentials
        self.tls = tls
    }

    /// Resolves a parsed config: reads the token files and builds the TLS context.
    public init(config: CoordinatorConfig, software: String) throws(ConfigError) {
        func secret(_ path: String, _ purpose: String) throws(ConfigError) -> Secret {
            let text = try ConfigFile.readToken(path, purpose: purpose)
            guard let s = Secret(text) else { throw ConfigError("\(purpose) file \(path) is empty") }
            return s
        }
        let join = try secret(config.joinTokenFile, "join token")
        let admin = try secret(config.adminTokenFile, "admin token")
        let readOnly = try config.readonlyTokenFile.map { (p) throws(ConfigError) in try secret(p, "read-only token") }
        var config = config
        config.settings.software = software
        var tls: NIOSSLContext?
        var httpTLS: NIOSSLContext?
        if let cert = config.tlsCertFile, let key = config.tlsKeyFile {
            do {
                tls = try GantryTLS.serverContext(certFile: cert, keyFile: key, clientCAFile: config.tlsClientCAFile)
                if config.tlsAPI || config.tlsHTTP { httpTLS = try GantryTLS.serverContext(certFile: cert, keyFile: key, clientCAFile: nil) }
            } catch {
                throw ConfigError(error.description)
            }
        }
        self.init(config: config, credentials: Credentials(join: join, admin: admin, readOnly: readOnly), tls: tls)
        self.httpTLS = httpTLS
    }

    /// The name the handshake gives (`Challenge.server_id`).
    public var serverID: String { config.settings.software }
    /// Mutual TLS binds each agent's node id to its certificate's names.
    public var mutualTLS: Bool { tls != nil && config.tlsClientCAFile != nil }
    public var limits: Admission.Limits {
        Admission.Limits(
            maxConnections: config.maxConnections, maxConnectionsPerAddress: config.maxConnectionsPerAddress,
            authFailuresPerMinute: config.authFailuresPerMinute, maxInflightRequests: config.maxInflightRequests)
    }
}
