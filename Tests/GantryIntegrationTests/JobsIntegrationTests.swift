import Foundation
import Testing

@Suite("Jobs end to end (shipped binaries, loopback)", .serialized)
struct JobsIntegrationTests {
    func jobs(_ object: [String: Any]) -> [[String: Any]] { object["jobs"] as? [[String: Any]] ?? [] }

    @Test("2 agents in front of real llama-servers run 50 jobs; every job gets exactly max_tokens, not estimated",
          .enabled(if: RealEngine.enabled, "llama-server and the tiny model are not built; scripts/test builds them"))
    func realEngine() async throws {
        let cluster = try await Cluster()
        let (llama1, port1) = try await RealEngine.start(name: "llama-1", in: cluster.scratch)
        let (llama2, port2) = try await RealEngine.start(name: "llama-2", in: cluster.scratch)
        try cluster.startAgent("cpu-1", engines: RealEngine.engineTOML(port: port1))
        try cluster.startAgent("cpu-2", engines: RealEngine.engineTOML(port: port2))
        do {
            try await eventually("2 ready") { try await cluster.nodeStates().values.filter { $0 == "ready" }.count == 2 }
            try await eventually("engines healthy") {
                let nodes = try await cluster.ctlJSON(["nodes", "ls"])["nodes"] as? [[String: Any]] ?? []
                return nodes.allSatisfy { (($0["engines"] as? [[String: Any]])?.first?["healthy"] as? Bool) == true }
            }
            var lines: [String] = []
            for i in 0..<50 { lines.append("{\"prompt\": \"prompt number \(i)\", \"max_tokens\": \(16 + i % 5), \"tenant\": \"t\(i % 3)\"}") }
            let file = try cluster.scratch.write("prompts.jsonl", lines.joined(separator: "\n") + "\n")
            let r = try await cluster.ctl(["submit", "--model", "tiny", "--file", file, "--wait", "--output", "json"], timeout: 120)
            #expect(r.status == 0, "\(r.stderr)")
            let done = jobs(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:])
            #expect(done.count == 50)
            for (i, job) in done.enumerated() {
                #expect(job["state"] as? String == "succeeded")
                #expect(job["completion_tokens"] as? Int == 16 + i % 5, "job \(i)")
                #expect(job["tokens_estimated"] as? Bool == false)
                #expect((job["prompt_tokens"] as? Int ?? 0) > 0)
                #expect(!(job["output"] as? String ?? "").isEmpty)
                #expect(job["simulated"] as? Bool == false)
                #expect(job["attempts"] as? Int == 1, "\(job["attempt_history"] ?? "")")
            }
            let nodes = Set(done.compactMap { $0["node"] as? String })
            #expect(nodes == ["cpu-1", "cpu-2"])
            #expect(r.stderr.contains("50 jobs: 50 succeeded"))
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
        llama1.killHard()
        llama2.killHard()
    }

    @Test("an engine that fails its health probe takes its slots out; jobs wait, then run when it is back",
          .enabled(if: RealEngine.enabled, "llama-server and the tiny model are not built; scripts/test builds them"))
    func engineHealth() async throws {
        let cluster = try await Cluster()
        let (llama, port) = try await RealEngine.start(name: "llama", in: cluster.scratch)
        try cluster.startAgent("cpu-1", engines: RealEngine.engineTOML(port: port))
        do {
            try await eventually("healthy") {
                let node = try await cluster.ctlJSON(["nodes", "get", "cpu-1"])
                return ((node["engines"] as? [[String: Any]])?.first?["healthy"] as? Bool) == true
            }
            llama.killHard()
            try await eventually("unhealthy", timeout: 15) {
                let node = try await cluster.ctlJSON(["nodes", "get", "cpu-1"])
                return ((node["engines"] as? [[String: Any]])?.first?["healthy"] as? Bool) == false
            }
            let id = try await cluster.ctl(["submit", "--model", "tiny", "--prompt", "wait for me", "--max-tokens", "8"]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            // Placement has looked at it (explain shows why the node was refused), and it waits.
            try await eventually("explained") { try await cluster.ctl(["jobs", "explain", id]).stdout.contains("engine-health") }
            #expect(try await cluster.ctlJSON(["jobs", "get", id])["state"] as? String == "queued")
            // Back on the same port: the probe sees it, and the job runs.
            let restarted = try Daemon(RealEngine.binary, [
                "-m", RealEngine.model, "--host", "127.0.0.1", "--port", "\(port)", "-np", "4", "-c", "4096",
                "--alias", "tiny", "--no-webui", "--offline", "--no-warmup", "-t", "1", "-lv", "1",
            ], name: "llama-again", logDirectory: cluster.scratch.url)
            try await eventually("job succeeded", timeout: 30) {
                try await cluster.ctlJSON(["jobs", "get", id])["state"] as? String == "succeeded"
            }
            restarted.killHard()
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
        llama.killHard()
    }

    @Test("cancel a running job: the agent stops it and the slot frees")
    func cancelRunning() async throws {
        let cluster = try await Cluster()
        try cluster.startAgent("sim-1", engines: Cluster.simEngine(slots: 1, ttftMs: 5, tokensPerSecond: 20))
        do {
            try await eventually("ready") { try await cluster.nodeStates()["sim-1"] == "ready" }
            let id = try await cluster.ctl(["submit", "--model", "sim-8b", "--prompt", "long", "--max-tokens", "400"]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try await eventually("running") { try await cluster.ctlJSON(["jobs", "get", id])["state"] as? String == "running" }
            let r = try await cluster.ctl(["jobs", "cancel", id])
            #expect(r.status == 0 && r.stdout.contains("cancelled"))
            _ = try await cluster.agents["sim-1"]!.awaitLog(#"stopping attempt .*job.id=\#(id)"#)
            try await eventually("slot free") {
                let node = try await cluster.ctlJSON(["nodes", "get", "sim-1"])
                return (node["engines"] as? [[String: Any]])?.first?["slots_used"] as? Int == 0
            }
            let job = try await cluster.ctlJSON(["jobs", "get", id])
            #expect(job["state"] as? String == "cancelled")
            #expect((job["completion_tokens"] as? Int ?? 999) < 400)
            // The freed slot takes new work.
            let next = try await cluster.ctl(["submit", "--model", "sim-8b", "--prompt", "next", "--max-tokens", "4", "--wait"])
            #expect(next.status == 0)
            let again = try await cluster.ctl(["jobs", "cancel", id])
            #expect(again.status == 1 && again.stderr.contains("already cancelled"))
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("drain a node: running work finishes, new work goes elsewhere, then the node is drained")
    func drain() async throws {
        let cluster = try await Cluster()
        try cluster.startAgent("a", engines: Cluster.simEngine(slots: 2, ttftMs: 5, tokensPerSecond: 100))
        do {
            try await eventually("a ready") { try await cluster.nodeStates()["a"] == "ready" }
            let long = try await cluster.ctl(["submit", "--model", "sim-8b", "--prompt", "long", "--max-tokens", "600"]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try await eventually("running on a") { try await cluster.ctlJSON(["jobs", "get", long])["node"] as? String == "a" }
            try cluster.startAgent("b", engines: Cluster.simEngine(slots: 2))
            try await eventually("b ready") { try await cluster.nodeStates()["b"] == "ready" }
            let r = try await cluster.ctl(["nodes", "drain", "a"])
            #expect(r.stdout.contains("node a is draining"))
            let other = try await cluster.ctl(["submit", "--model", "sim-8b", "--prompt", "short", "--max-tokens", "4", "--wait", "--output", "json"])
            let placed = (try JSONSerialization.jsonObject(with: Data(other.stdout.utf8)) as? [String: Any]).map(jobs)?.first
            #expect(placed?["node"] as? String == "b")
            // 600 tokens at 100/s: still running after b registers, even on a busy host.
            try await eventually("a drained", timeout: 20) { try await cluster.nodeStates()["a"] == "drained" }
            #expect(try await cluster.ctlJSON(["jobs", "get", long])["state"] as? String == "succeeded")
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("kill an agent mid-job: its jobs rerun elsewhere and each succeeds exactly once")
    func killAgentMidJob() async throws {
        let cluster = try await Cluster(Cluster.Options(intervalMs: 200, ttlMs: 1500))
        // 120 tokens at 20/s: 6 s, so the jobs still run on a when it is killed, after the
        // polls and b's start (which took over 3 s once on two loaded cores).
        try cluster.startAgent("a", engines: Cluster.simEngine(slots: 4, ttftMs: 5, tokensPerSecond: 20))
        do {
            try await eventually("a ready") { try await cluster.nodeStates()["a"] == "ready" }
            let ids = try await cluster.ctl(["submit", "--model", "sim-8b", "--file",
                try cluster.scratch.write("p.jsonl", (0..<4).map { "{\"prompt\": \"job \($0)\", \"max_tokens\": 120}" }.joined(separator: "\n"))])
                .stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == 4)
            try await eventually("all running on a") {
                var running = 0
                for id in ids where try await cluster.ctlJSON(["jobs", "get", id])["state"] as? String == "running" { running += 1 }
                return running == 4
            }
            try cluster.startAgent("b", engines: Cluster.simEngine(slots: 4, ttftMs: 5, tokensPerSecond: 400))
            try await eventually("b ready") { try await cluster.nodeStates()["b"] == "ready" }
            cluster.agents["a"]!.killHard()
            try await eventually("all succeeded", timeout: 20) {
                var done = 0
                for id in ids where try await cluster.ctlJSON(["jobs", "get", id])["state"] as? String == "succeeded" { done += 1 }
                return done == 4
            }
            for id in ids {
                let job = try await cluster.ctlJSON(["jobs", "get", id])
                let history = job["attempt_history"] as? [[String: Any]] ?? []
                #expect(history.map { $0["state"] as? String } == ["lost", "succeeded"], "\(history)")
                #expect(history.last?["node"] as? String == "b")
                #expect(history.filter { $0["state"] as? String == "succeeded" }.count == 1)
                #expect(job["completion_tokens"] as? Int == 120)
            }
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("an exec engine runs a command per job: text and usage from its JSON lines; a failing command fails the job")
    func execEngine() async throws {
        let cluster = try await Cluster(Cluster.Options(extra: "[jobs]\nmax_attempts = 2"))
        let script = try cluster.scratch.write("generate.sh", """
            #!/bin/sh
            # $1 = model, $2 = max_tokens; the job JSON is on stdin.
            job=$(cat)
            case "$job" in *'"prompt":"fail'*) echo "it went wrong" >&2; exit 3;; esac
            i=0
            while [ $i -lt "$2" ]; do printf '{"text": "t%d "}\\n' $i; i=$((i+1)); done
            printf '{"usage": {"prompt_tokens": 7, "completion_tokens": %d}}\\n' "$2"
            """)
        chmod(script, 0o755)
        try cluster.startAgent("x", engines: """
            [[engine]]
            name = "script"
            kind = "exec"
            command = ["\(script)", "{model}", "{max_tokens}"]
            models = ["m"]
            slots = 2
            """)
        do {
            try await eventually("ready") { try await cluster.nodeStates()["x"] == "ready" }
            let ok = try await cluster.ctl(["submit", "--model", "m", "--prompt", "hi", "--max-tokens", "3", "--wait", "--output", "json"])
            let job = (try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any]).map(jobs)?.first
            #expect(job?["output"] as? String == "t0 t1 t2 ")
            #expect(job?["prompt_tokens"] as? Int == 7)
            #expect(job?["completion_tokens"] as? Int == 3)
            let bad = try await cluster.ctl(["submit", "--model", "m", "--prompt", "fail please", "--wait", "--output", "json"])
            #expect(bad.status == 1)
            let failed = (try JSONSerialization.jsonObject(with: Data(bad.stdout.utf8)) as? [String: Any]).map(jobs)?.first
            #expect(failed?["state"] as? String == "failed")
            let error = (failed?["error"] as? String) ?? ""
            #expect(error.contains("command exited with status 3: it went wrong"), "\(error)")
            #expect(failed?["attempts"] as? Int == 2)
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("submit refuses bad input with one clear line and exit 2")
    func submitUsage() async throws {
        let cluster = try await Cluster()
        let both = try await cluster.ctl(["submit", "--model", "m"])
        #expect(both.status == 2)
        #expect(both.stderr.hasPrefix("gantryctl: error: give exactly one of --prompt and --file"))
        let file = try cluster.scratch.write("bad.jsonl", "{\"prompt\": \"ok\"}\n{\"max_tokens\": 4}\n")
        let bad = try await cluster.ctl(["submit", "--model", "m", "--file", file])
        #expect(bad.status == 2)
        #expect(bad.stderr == "gantryctl: error: \(file):2: \"prompt\" is missing or not a string\n")
        let id = try await cluster.ctl(["jobs", "get", "nope"])
        #expect(id.status == 2 && id.stderr.contains("is not a job id"))
        let state = try await cluster.ctl(["jobs", "ls", "--state", "bogus"])
        #expect(state.status == 2)
        await cluster.stop()
    }
}
