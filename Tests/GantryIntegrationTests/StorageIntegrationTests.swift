import Foundation
import GantryTestSupport
import Testing

@Suite("Durable state (shipped gantryd)", .serialized)
struct StorageIntegrationTests {
    @Test("queued jobs survive a restart and run when an agent joins; --check-state reports the store")
    func restartReloads() async throws {
        let port = try freePort()
        let cluster = try await Cluster(Cluster.Options(listenPort: port))
        do {
            let ids = try await cluster.ctl(["submit", "--model", "sim-8b", "--file",
                try cluster.scratch.write("p.jsonl", (0..<5).map { "{\"prompt\": \"p\($0)\", \"max_tokens\": 4}" }.joined(separator: "\n"))])
                .stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == 5)
            await cluster.gantryd.stop()
            let check = try await runCommand(Binaries.path("gantryd"), ["--config", cluster.scratch.file("gantryd.toml"), "--check-state"])
            #expect(check.status == 0, "\(check.stderr)")
            #expect(check.stdout.contains("integrity:        ok"))
            #expect(check.stdout.contains("jobs:             5 (5 unfinished)"))
            try await cluster.crashAndRestartGantryd()
            _ = try await cluster.gantryd.awaitLog(#"state loaded .*jobs.unfinished=5"#)
            #expect(try await cluster.ctlJSON(["jobs", "get", ids[0]])["state"] as? String == "queued")
            try cluster.startAgent("a")
            try await eventually("all succeeded") {
                let jobs = try await cluster.ctlJSON(["jobs", "ls", "--state", "succeeded"])["jobs"] as? [[String: Any]] ?? []
                return jobs.count == 5
            }
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("storage faults at start-up: a clear error and a non-zero exit")
    func startupFaults() async throws {
        let scratch = try Scratch()
        func gantryd(_ stateDir: String, _ extra: [String] = []) async throws -> CommandResult {
            let config = try scratch.write("g.toml", """
                [server]
                listen = "127.0.0.1:0"
                http = "127.0.0.1:0"
                state_dir = "\(stateDir)"
                [auth]
                join_token_file = "\(scratch.file("join.token"))"
                admin_token_file = "\(scratch.file("admin.token"))"
                """)
            return try await runCommand(Binaries.path("gantryd"), ["--config", config] + extra, timeout: 20)
        }
        let missing = try await gantryd(scratch.path + "/nope")
        #expect(missing.status == 1)
        #expect(missing.stderr == "gantryd: error: state directory \(scratch.path)/nope does not exist (create it, or set server.state_dir / --state-dir)\n")

        try FileManager.default.createDirectory(atPath: scratch.path + "/bad", withIntermediateDirectories: true)
        try Data(repeating: 0x42, count: 4096).write(to: URL(fileURLWithPath: scratch.path + "/bad/gantry.sqlite"))
        let corrupt = try await gantryd(scratch.path + "/bad")
        #expect(corrupt.status == 1)
        #expect(corrupt.stderr.contains("gantry.sqlite"), "\(corrupt.stderr)")
        #expect(corrupt.stderr.contains("not a database"), "\(corrupt.stderr)")
        let check = try await gantryd(scratch.path + "/bad", ["--check-state"])
        #expect(check.status == 1)

        if TmpfsMount.possible {
            let ro = try TmpfsMount(options: "ro,size=1m")
            defer { ro.unmount() }
            let readOnly = try await gantryd(ro.path)
            #expect(readOnly.status == 1)
            #expect(readOnly.stderr.contains("Read-only file system"), "\(readOnly.stderr)")
        }
    }

    @Test("the disk filling up while running: gantryd exits loudly and acknowledges nothing it could not store",
          .enabled(if: TmpfsMount.possible, "needs permission to mount a tmpfs"))
    func diskFullAtRuntime() async throws {
        let disk = try TmpfsMount(options: "size=4m")
        defer { disk.unmount() }
        let cluster = try await Cluster(Cluster.Options(extra: ""), stateDir: disk.path, minFreeBytes: 0)
        do {
            _ = try await cluster.ctl(["submit", "--model", "m", "--prompt", "fits"])
            // Fill the disk.
            let filler = disk.path + "/filler"
            _ = FileManager.default.createFile(atPath: filler, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: filler))
            let block = Data(repeating: 0, count: 64 * 1024)
            while (try? handle.write(contentsOf: block)) != nil {}
            try? handle.close()
            let big = String(repeating: "x", count: 512 * 1024)
            let file = try cluster.scratch.write("big.jsonl", (0..<4).map { _ in "{\"prompt\": \"\(big)\"}" }.joined(separator: "\n"))
            let r = try await cluster.ctl(["submit", "--model", "m", "--file", file], timeout: 30)
            #expect(r.status == 1, "the submit was acknowledged: \(r.stdout)")
            try await eventually("gantryd exited") { !cluster.gantryd.isRunning }
            #expect(cluster.gantryd.terminationStatus == 1)
            #expect(cluster.gantryd.output.contains("cannot write to the store"))
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }
}
