import Foundation
import Testing

@Suite("TLS and mutual TLS (shipped binaries)", .serialized)
struct TLSIntegrationTests {
    @Test("mutual TLS: an agent with its own certificate joins; one claiming another node's id is refused; gantryctl needs the CA and a client certificate")
    func mutualTLS() async throws {
        let certs = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-certs-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: certs) }
        let gen = try await runCommand(SystemdIntegrationTests.repo + "/scripts/gen-certs", [certs, "node-a"])
        try #require(gen.status == 0, "\(gen.stderr)")
        let cluster = try await Cluster(Cluster.Options(extra: """
            [tls]
            cert_file = "\(certs)/server.pem"
            key_file = "\(certs)/server.key"
            client_ca_file = "\(certs)/ca.pem"
            """))
        let agentTLS = { (cert: String) in
            "[tls]\nca_file = \"\(certs)/ca.pem\"\ncert_file = \"\(certs)/\(cert).pem\"\nkey_file = \"\(certs)/\(cert).key\"\nserver_name = \"localhost\""
        }
        let tlsFlags = ["--tls-ca", "\(certs)/ca.pem", "--tls-cert", "\(certs)/admin.pem", "--tls-key", "\(certs)/admin.key", "--tls-server-name", "localhost"]
        do {
            try cluster.startAgent("node-a", extra: agentTLS("node-a"))
            // A second agent presents node-a's certificate but says it is node-b.
            try cluster.startAgent("impostor", nodeID: "node-b", extra: agentTLS("node-a"))
            try await eventually("node-a ready over TLS") {
                let r = try await cluster.ctl(["nodes", "ls", "--output", "json"] + tlsFlags)
                return r.status == 0 && r.stdout.contains("\"node-a\"") && r.stdout.contains("\"ready\"")
            }
            _ = try await cluster.gantryd.awaitLog(#"handshake failed error="node id 'node-b' does not match the client certificate.*error.code=bad_hello"#)
            _ = try await cluster.agents["impostor"]!.awaitLog("does not match the client certificate")
            let nodes = try await cluster.ctl(["nodes", "ls", "--output", "json"] + tlsFlags)
            #expect(!nodes.stdout.contains("node-b"))
            // Without a client certificate, or without TLS, gantryctl is refused.
            let noCert = try await cluster.ctl(["status", "--tls-ca", "\(certs)/ca.pem", "--tls-server-name", "localhost"])
            #expect(noCert.status == 1, "\(noCert.stdout)")
            let plain = try await cluster.ctl(["status", "--timeout", "2"])
            #expect(plain.status == 1)
            // Jobs run over TLS like anywhere else.
            let run = try await cluster.ctl(["submit", "--model", "sim-8b", "--prompt", "over tls", "--max-tokens", "4", "--wait"] + tlsFlags)
            #expect(run.status == 0, "\(run.stderr)")
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("bad TLS material is a config error naming the file")
    func badFiles() async throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.path + "/state", withIntermediateDirectories: true)
        let config = try scratch.write("g.toml", """
            [server]
            state_dir = "\(scratch.path)/state"
            [auth]
            join_token_file = "\(scratch.file("join.token"))"
            admin_token_file = "\(scratch.file("admin.token"))"
            [tls]
            cert_file = "\(scratch.path)/missing.pem"
            key_file = "\(scratch.path)/missing.key"
            """)
        let r = try await runCommand(Binaries.path("gantryd"), ["--config", config])
        #expect(r.status == 2)
        #expect(r.stderr.contains("cannot load the TLS certificate \(scratch.path)/missing.pem"), "\(r.stderr)")
    }
}
