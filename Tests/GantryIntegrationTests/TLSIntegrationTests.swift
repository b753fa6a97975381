import Foundation
import Testing

@Suite("TLS and mutual TLS (shipped binaries)", .serialized)
struct TLSIntegrationTests {
    /// A test CA with certificates for gantryd, an admin and node-a (scripts/gen-certs), in
    /// a fresh directory the caller removes.
    static func certificates() async throws -> String {
        let certs = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-certs-\(UUID().uuidString.prefix(8))").path
        let gen = try await runCommand(SystemdIntegrationTests.repo + "/scripts/gen-certs", [certs, "node-a"])
        try #require(gen.status == 0, "\(gen.stderr)")
        return certs
    }

    @Test("mutual TLS: an agent with its own certificate joins; one claiming another node's id is refused; gantryctl needs the CA and a client certificate")
    func mutualTLS() async throws {
        let certs = try await Self.certificates()
        defer { try? FileManager.default.removeItem(atPath: certs) }
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

    @Test("[tls] api and http: the OpenAI API and the dashboard over HTTPS with the server's certificate; plain HTTP is refused; the session cookie is Secure")
    func https() async throws {
        let certs = try await Self.certificates()
        defer { try? FileManager.default.removeItem(atPath: certs) }
        let cluster = try await Cluster(Cluster.Options(extra: """
            [tls]
            cert_file = "\(certs)/server.pem"
            key_file = "\(certs)/server.key"
            api = true
            http = true
            """))
        let tlsFlags = ["--tls-ca", "\(certs)/ca.pem", "--tls-server-name", "localhost"]
        func curl(_ port: Int, _ arguments: [String]) async throws -> CommandResult {
            try await runCommand("/usr/bin/env", ["curl", "-s", "--max-time", "10", "--cacert", "\(certs)/ca.pem",
                                                  "--resolve", "localhost:\(port):127.0.0.1"] + arguments)
        }
        do {
            try cluster.startAgent("node-a", extra: "[tls]\nca_file = \"\(certs)/ca.pem\"\nserver_name = \"localhost\"")
            try await eventually("node-a ready") {
                let r = try await cluster.ctl(["nodes", "ls", "--output", "json"] + tlsFlags)
                return r.status == 0 && r.stdout.contains("\"ready\"")
            }
            let created = try await cluster.ctl(["apikeys", "create", "--tenant", "t", "--output", "json"] + tlsFlags)
            let key = (try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["key"] as? String ?? ""
            let models = try await curl(cluster.apiPort, ["-H", "Authorization: Bearer \(key)", "https://localhost:\(cluster.apiPort)/v1/models"])
            #expect(models.stdout.contains("\"sim-8b\""), "\(models.stdout) \(models.stderr)")
            let plain = try await runCommand("/usr/bin/env", ["curl", "-s", "--max-time", "5", "http://127.0.0.1:\(cluster.apiPort)/v1/models"])
            #expect(plain.status != 0 || !plain.stdout.contains("sim-8b"))
            let token = try String(contentsOfFile: cluster.scratch.file("readonly.token"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let login = try await curl(cluster.httpPort, ["-D", "-", "-o", "/dev/null", "--data-urlencode", "token=\(token)", "https://localhost:\(cluster.httpPort)/ui/login"])
            #expect(login.stdout.contains("gantry_session=") && login.stdout.contains("Secure"), "\(login.stdout) \(login.stderr)")
            let health = try await curl(cluster.httpPort, ["https://localhost:\(cluster.httpPort)/healthz"])
            #expect(health.stdout.contains("\"nodes_ready\":1"), "\(health.stdout)")
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
