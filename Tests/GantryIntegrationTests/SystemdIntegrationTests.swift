import Foundation
import Testing

@Suite("systemd integration (shipped binaries)", .serialized)
struct SystemdIntegrationTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// A datagram socket to stand in for systemd's NOTIFY_SOCKET.
    final class NotifySocket: @unchecked Sendable {
        let path: String
        let fd: Int32
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8)).sock").path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in Array(path.utf8).enumerated() { p[i] = b } }
            _ = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        func drain() -> [String] {
            var out: [String] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return out }
                out.append(String(decoding: buffer[0..<n], as: UTF8.self))
            }
        }
        deinit { close(fd); unlink(path) }
    }

    func gantrydConfig(_ scratch: Scratch, listen: String = "127.0.0.1:0", http: String = "127.0.0.1:0", api: String = "127.0.0.1:0") throws -> String {
        try FileManager.default.createDirectory(atPath: scratch.path + "/state", withIntermediateDirectories: true)
        return try scratch.write("gantryd.toml", """
            [server]
            listen = "\(listen)"
            http = "\(http)"
            state_dir = "\(scratch.path)/state"
            min_free_bytes = 0
            [api]
            listen = "\(api)"
            [auth]
            join_token_file = "\(scratch.file("join.token"))"
            admin_token_file = "\(scratch.file("admin.token"))"
            [heartbeat]
            interval_ms = 200
            ttl_ms = 5000
            """)
    }

    @Test("the real gantryd tells NOTIFY_SOCKET READY=1, STATUS=, WATCHDOG=1 and STOPPING=1, in that order")
    func notify() async throws {
        let scratch = try Scratch()
        let notify = try NotifySocket()
        let d = try Daemon(Binaries.path("gantryd"), ["--config", try gantrydConfig(scratch)], name: "gantryd", logDirectory: scratch.url,
                           environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"])
        var messages: [String] = []
        try await eventually("a watchdog ping and a status line") {
            messages += notify.drain()
            return messages.contains("WATCHDOG=1") && messages.contains { $0.hasPrefix("STATUS=") }
        }
        await d.stop()
        messages += notify.drain()
        func first(_ p: (String) -> Bool) -> Int { messages.firstIndex(where: p) ?? Int.max }
        let ready = first { $0.hasPrefix("READY=1") }
        let status = first { $0.hasPrefix("STATUS=") }
        let watchdog = first { $0 == "WATCHDOG=1" }
        let stopping = first { $0 == "STOPPING=1" }
        #expect(ready < status && status < watchdog && watchdog < stopping, "\(messages)")
        #expect(messages.contains { $0.contains("nodes ready") }, "\(messages)")
        #expect(d.terminationStatus == 0)
    }

    @Test("socket activation: gantryd started by systemd-socket-activate on three named sockets serves an agent, /healthz and the API")
    func socketActivation() async throws {
        let activate = "/usr/bin/systemd-socket-activate"
        try #require(FileManager.default.isExecutableFile(atPath: activate), "systemd-socket-activate is missing (apt-get install systemd)")
        let scratch = try Scratch()
        let (p1, p2, p3) = (try freePort(), try freePort(), try freePort())
        // gantryd's own config names other ports: the inherited sockets must win.
        let config = try gantrydConfig(scratch, listen: "127.0.0.1:1", http: "127.0.0.1:1", api: "127.0.0.1:1")
        let d = try Daemon(activate, [
            "-l", "127.0.0.1:\(p1)", "-l", "127.0.0.1:\(p2)", "-l", "127.0.0.1:\(p3)", "--fdname=gantry:http:api",
            Binaries.path("gantryd"), "--config", config,
        ], name: "activated", logDirectory: scratch.url)
        // systemd-socket-activate starts gantryd on the first connection, like systemd does.
        let (status, body) = try await httpGet("http://127.0.0.1:\(p2)/healthz")
        #expect(status == 200 && body.contains("\"status\":\"ok\""))
        _ = try await d.awaitLog("socket-activated sockets=api,gantry,http")
        // The API answers on its inherited socket (a request without a key: 401, in OpenAI's shape).
        let (apiStatus, apiBody) = try await httpGet("http://127.0.0.1:\(p3)/v1/models")
        #expect(apiStatus == 401 && apiBody.contains("\"error\""), "\(apiStatus) \(apiBody)")
        try FileManager.default.createDirectory(atPath: scratch.path + "/a", withIntermediateDirectories: true)
        let agentConfig = try scratch.write("a.toml", """
            coordinator = "127.0.0.1:\(p1)"
            node_id = "activated-1"
            join_token_file = "\(scratch.file("join.token"))"
            state_dir = "\(scratch.path)/a"
            \(Cluster.simEngine())
            """)
        let agent = try Daemon(Binaries.path("gantry-agent"), ["--config", agentConfig], name: "agent", logDirectory: scratch.url)
        _ = try await d.awaitLog("node registered node.id=activated-1")
        await agent.stop()
        await d.stop()
    }

    @Test("units: systemd-analyze verify passes; gantryd.service exposure is 2.5 or lower")
    func units() async throws {
        let scratch = try Scratch()
        for unit in ["gantryd.service", "gantryd.socket", "gantry-agent.service"] {
            var text = try String(contentsOfFile: "\(Self.repo)/systemd/\(unit)", encoding: .utf8)
            text = text.replacingOccurrences(of: "/usr/local/bin/", with: Binaries.directory.path + "/")
            try scratch.write(unit, text)
        }
        let verify = try await runCommand("/usr/bin/systemd-analyze", ["verify"] + ["gantryd.service", "gantryd.socket", "gantry-agent.service"].map(scratch.file))
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        for (unit, limit) in [("gantryd.service", 2.5), ("gantry-agent.service", 5.0)] {
            let security = try await runCommand("/usr/bin/systemd-analyze", ["security", "--offline=yes", scratch.file(unit)])
            let line = security.stdout.split(separator: "\n").last { $0.contains("Overall exposure level") } ?? ""
            let figure = line.split(separator: ":").last.flatMap { Double($0.split(separator: " ").first ?? "") }
            print("systemd-analyze security \(unit): \(line.trimmingCharacters(in: .whitespaces))")
            #expect(figure != nil && figure! <= limit, "\(line)")
        }
    }

    @Test("SIGHUP with a changed admin token: the old token is refused, the new one accepted, agents stay connected")
    func reload() async throws {
        let cluster = try await Cluster()
        try cluster.startAgent("r-1")
        do {
            try await eventually("ready") { try await cluster.nodeStates()["r-1"] == "ready" }
            let before = try await cluster.ctlJSON(["nodes", "get", "r-1"])["connected_at"] as? String
            try cluster.scratch.write("old-admin.token", try String(contentsOfFile: cluster.scratch.file("admin.token"), encoding: .utf8))
            try cluster.scratch.write("admin.token", "a-new-admin-token\n")
            cluster.gantryd.signal(SIGHUP)
            _ = try await cluster.gantryd.awaitLog("reloaded on SIGHUP")
            let old = try await cluster.ctl(["status"], token: "old-admin.token")
            #expect(old.status == 1 && old.stderr.contains("wrong token"), "\(old.stderr)")
            let new = try await cluster.ctl(["status"], token: "admin.token")
            #expect(new.status == 0, "\(new.stderr)")
            let after = try await cluster.ctlJSON(["nodes", "get", "r-1"])
            #expect(after["connected_at"] as? String == before)
            #expect(after["state"] as? String == "ready")
            #expect(!cluster.agents["r-1"]!.output.contains("reconnecting"))
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("SIGHUP with a new heartbeat ttl: connections opened afterwards are welcomed with it")
    func reloadSettings() async throws {
        let cluster = try await Cluster(Cluster.Options(ttlMs: 2000))
        do {
            let admin = try String(contentsOfFile: cluster.scratch.file("admin.token"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let before = try await RawPeer(port: cluster.port)
            guard case .welcome(let w1)? = try await before.handshake(role: .admin, token: admin) else { throw TestFailure("no welcome") }
            #expect(w1.ttlMs == 2000)
            await before.close()
            let config = try String(contentsOfFile: cluster.scratch.file("gantryd.toml"), encoding: .utf8)
            try cluster.scratch.write("gantryd.toml", config.replacingOccurrences(of: "ttl_ms = 2000", with: "ttl_ms = 3500"))
            cluster.gantryd.signal(SIGHUP)
            _ = try await cluster.gantryd.awaitLog("reloaded on SIGHUP")
            let after = try await RawPeer(port: cluster.port)
            guard case .welcome(let w2)? = try await after.handshake(role: .admin, token: admin) else { throw TestFailure("no welcome") }
            #expect(w2.ttlMs == 3500)
            await after.close()
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("scripts/install is idempotent and makes 0600 tokens")
    func install() async throws {
        let scratch = try Scratch()
        let dest = scratch.path + "/root"
        let first = try await runCommand("\(Self.repo)/scripts/install", ["--destdir", dest, "--from", Binaries.directory.path])
        #expect(first.status == 0, "\(first.stderr)")
        let token = try String(contentsOfFile: dest + "/etc/gantry/admin.token", encoding: .utf8)
        let attributes = try FileManager.default.attributesOfItem(atPath: dest + "/etc/gantry/admin.token")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let second = try await runCommand("\(Self.repo)/scripts/install", ["--destdir", dest, "--from", Binaries.directory.path])
        #expect(second.status == 0)
        #expect(try String(contentsOfFile: dest + "/etc/gantry/admin.token", encoding: .utf8) == token)
        for path in ["usr/local/bin/gantryd", "usr/local/lib/systemd/system/gantryd.socket", "usr/local/lib/sysusers.d/gantry.conf", "etc/gantry/agent.toml"] {
            #expect(FileManager.default.fileExists(atPath: "\(dest)/\(path)"), "\(path)")
        }
        let bad = try await runCommand("\(Self.repo)/scripts/install", ["--bogus"])
        #expect(bad.status == 2)
    }
}
