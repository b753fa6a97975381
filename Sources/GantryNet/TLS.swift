public import NIOCore
public import NIOSSL
import X509
import SwiftASN1

/// TLS for the protocol listener and its clients (swift-nio-ssl).
public enum GantryTLS {
    /// A failure to load TLS material, naming the file.
    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    static func load<T>(_ what: String, _ path: String, _ body: () throws -> T) throws(LoadError) -> T {
        do {
            return try body()
        } catch {
            throw LoadError(description: "cannot load the TLS \(what) \(path): \(error)")
        }
    }

    /// The server's context. With `clientCAFile`, clients must present a certificate the CA
    /// signed (mutual TLS).
    public static func serverContext(certFile: String, keyFile: String, clientCAFile: String?) throws(LoadError) -> NIOSSLContext {
        let chain = try load("certificate", certFile) { try NIOSSLCertificate.fromPEMFile(certFile) }
        let key = try load("private key", keyFile) { try NIOSSLPrivateKey(file: keyFile, format: .pem) }
        var config: TLSConfiguration
        if let clientCAFile {
            let roots = try load("client CA", clientCAFile) { try NIOSSLCertificate.fromPEMFile(clientCAFile) }
            config = TLSConfiguration.makeServerConfigurationWithMTLS(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key), trustRoots: .certificates(roots))
            config.certificateVerification = .noHostnameVerification
        } else {
            config = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        }
        config.minimumTLSVersion = .tlsv12
        return try load("configuration", certFile) { try NIOSSLContext(configuration: config) }
    }

    /// A client's context: trust `caFile` (else the system roots), and present a client
    /// certificate when given one.
    public static func clientContext(caFile: String?, certFile: String?, keyFile: String?) throws(LoadError) -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv12
        if let caFile {
            let roots = try load("CA", caFile) { try NIOSSLCertificate.fromPEMFile(caFile) }
            config.trustRoots = .certificates(roots)
        }
        if let certFile, let keyFile {
            let chain = try load("client certificate", certFile) { try NIOSSLCertificate.fromPEMFile(certFile) }
            let key = try load("client key", keyFile) { try NIOSSLPrivateKey(file: keyFile, format: .pem) }
            config.certificateChain = chain.map { .certificate($0) }
            config.privateKey = .privateKey(key)
        }
        return try load("configuration", caFile ?? "(system roots)") { try NIOSSLContext(configuration: config) }
    }

    /// The names a certificate is for: its subject common names and DNS alternative names
    /// (parsed with swift-certificates; an unparsable certificate has none).
    public static func names(of certificate: NIOSSLCertificate) -> [String] {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return [] }
        var names: [String] = []
        for rdn in parsed.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                if let name = String(attribute.value), !names.contains(name) { names.append(name) }
            }
        }
        for case .dnsName(let name) in (try? parsed.extensions.subjectAlternativeNames) ?? SubjectAlternativeNames() where !names.contains(name) {
            names.append(name)
        }
        return names
    }

    /// The verified client certificate's names on a server connection, if TLS is in use and
    /// the client presented one.
    public static func peerNames(_ context: ChannelHandlerContext) -> [String]? {
        guard let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
            let certificate = handler.peerCertificate
        else { return nil }
        return names(of: certificate)
    }
}
