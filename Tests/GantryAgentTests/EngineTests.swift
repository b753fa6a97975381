import Foundation
import GantryConfig
import GantryModel
import GantryTelemetry
import Testing

@testable import GantryAgent

@Suite("Engines")
struct EngineTests {
    let ref = AttemptRef(job: JobID(rawValue: 1 << 30), attempt: 1)

    func assignment(prompt: String = "hello", maxTokens: Int = 3, timeoutMs: Int = 0) -> Assignment {
        Assignment(ref: ref, engine: "e", spec: JobSpec(model: "m", prompt: prompt, maxTokens: maxTokens, timeoutMs: timeoutMs), submittedAt: .zero)
    }

    func script(_ body: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-exec-\(UUID().uuidString.prefix(8)).sh").path
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    func exec(_ path: String, args: [String] = ["{model}", "{max_tokens}"]) -> ExecEngine {
        var c = EngineConfig(name: "e", kind: .exec, models: ["m"], slots: 1)
        c.command = [path] + args
        return ExecEngine(config: c)
    }

    @Test("exec: text lines, usage, argv template and the job on stdin")
    func execOK() async throws {
        let path = try script("""
            job=$(cat)
            echo "{\\"text\\": \\"model=$1 \\"}"
            echo "{\\"text\\": \\"max=$2 \\"}"
            case "$job" in *'"prompt":"hello"'*) echo '{"text": "saw-prompt"}';; esac
            echo '{"usage": {"prompt_tokens": 5, "completion_tokens": 3}}'
            """)
        let result = await exec(path).run(assignment()) { _ in }
        #expect(result.outcome == .succeeded, "\(result.error ?? "")")
        #expect(result.output == "model=m max=3 saw-prompt")
        #expect(result.usage == Usage(promptTokens: 5, completionTokens: 3, estimated: false))
    }

    @Test("exec: no usage line means counted chunks, marked estimated")
    func execEstimated() async throws {
        let path = try script("cat >/dev/null; echo '{\"text\": \"a\"}'; echo 'not json'; echo '{\"text\": \"b\"}'")
        let result = await exec(path).run(assignment()) { _ in }
        #expect(result.output == "ab")
        #expect(result.usage == Usage(promptTokens: 0, completionTokens: 2, estimated: true))
    }

    @Test("exec: a non-zero exit fails with the status and stderr")
    func execFails() async throws {
        let path = try script("cat >/dev/null; echo 'bad things' >&2; exit 4")
        let result = await exec(path).run(assignment()) { _ in }
        #expect(result.outcome == .failed)
        #expect(result.error == "command exited with status 4: bad things")
    }

    @Test("exec: a timeout kills the command")
    func execTimeout() async throws {
        let path = try script("cat >/dev/null; sleep 30")
        let started = Date()
        let result = await exec(path).run(assignment(timeoutMs: 300)) { _ in }
        #expect(result.outcome == .failed)
        #expect(result.error?.contains("timed out after 300 ms") == true)
        // Killed, not run out: the command would sleep 30 s (the margin is for a busy host).
        #expect(Date().timeIntervalSince(started) < 15)
    }

    @Test("exec: cancelling the task stops the command and reports cancelled")
    func execCancel() async throws {
        let path = try script("cat >/dev/null; echo '{\"text\": \"x\"}'; sleep 30")
        let engine = exec(path)
        let a = assignment()
        let task = Task { await engine.run(a) { _ in } }
        try await Task.sleep(for: .milliseconds(300))
        let started = Date()
        task.cancel()
        let result = await task.value
        #expect(result.outcome == .cancelled)
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test("exec: a missing program fails clearly")
    func execMissing() async throws {
        let result = await exec("/nonexistent/generate").run(assignment()) { _ in }
        #expect(result.outcome == .failed)
        #expect(result.error?.contains("cannot run /nonexistent/generate") == true)
    }

    @Test("sim: deterministic text, exact usage, marked simulated")
    func sim() async throws {
        var c = EngineConfig(name: "s", kind: .sim, models: ["m"], slots: 1)
        c.ttftMs = 0
        c.tokensPerSecond = 0
        let engine = SimEngine(config: c)
        let a = await engine.run(assignment(maxTokens: 16)) { _ in }
        let b = await engine.run(assignment(maxTokens: 16)) { _ in }
        #expect(a.output == b.output)
        #expect(a.output.split(separator: " ").count == 16)
        #expect(a.simulated && a.usage.completionTokens == 16 && !a.usage.estimated)
        let other = await engine.run(assignment(prompt: "other", maxTokens: 16)) { _ in }
        #expect(other.output != a.output)
    }
}

@Suite("Server-sent events")
struct SSETests {
    @Test("events split across any chunking parse the same")
    func chunking() throws {
        let stream = "data: {\"a\":1}\n\n: comment\nevent: x\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n"
        let bytes = Array(stream.utf8)
        for size in 1...bytes.count {
            var parser = SSEParser()
            var events: [String] = []
            for start in stride(from: 0, to: bytes.count, by: size) {
                events += try parser.feed(bytes[start..<min(start + size, bytes.count)])
            }
            #expect(events == ["{\"a\":1}", "line1\nline2", "[DONE]"], "chunk size \(size)")
        }
    }

    @Test("CRLF and CR line ends")
    func lineEnds() throws {
        var parser = SSEParser()
        #expect(try parser.feed(Array("data: a\r\n\r\ndata: b\r\rdata:c\n\n".utf8)) == ["a", "b", "c"])
    }

    @Test("an oversized event is refused")
    func tooLarge() {
        var parser = SSEParser(maxEventBytes: 10)
        #expect(throws: SSEParser.TooLarge.self) { _ = try parser.feed(Array("data: 0123456789abcdef".utf8)) }
    }

    @Test("a llama-server stream: text, final usage, [DONE]")
    func llamaServerStream() throws {
        var s = CompletionStream(ref: AttemptRef(job: JobID(rawValue: 1), attempt: 1), maxOutputBytes: 1 << 20)
        let body = """
            data: {"choices":[{"text":"l","index":0,"logprobs":null,"finish_reason":null}],"object":"text_completion"}

            data: {"choices":[{"text":"o","index":0,"logprobs":null,"finish_reason":null}],"object":"text_completion"}

            data: {"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"completion_tokens":2,"prompt_tokens":7,"total_tokens":9}}

            data: [DONE]


            """
        _ = try s.feed(Array(body.utf8), now: Timestamp(unixMillis: 5))
        #expect(s.done)
        #expect(s.output.text == "lo")
        #expect(s.usage == Usage(promptTokens: 7, completionTokens: 2, estimated: false))
        #expect(s.firstTokenAt == Timestamp(unixMillis: 5))
    }

    @Test("a server that sends no usage: chunks counted, marked estimated")
    func noUsage() throws {
        var s = CompletionStream(ref: AttemptRef(job: JobID(rawValue: 1), attempt: 1), maxOutputBytes: 1 << 20)
        _ = try s.feed(Array("data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"choices\":[{\"text\":\"b\",\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n".utf8), now: .zero)
        #expect(s.usage == Usage(promptTokens: 0, completionTokens: 2, estimated: true))
    }

    @Test("an error event is reported")
    func serverError() throws {
        var s = CompletionStream(ref: AttemptRef(job: JobID(rawValue: 1), attempt: 1), maxOutputBytes: 1 << 20)
        _ = try s.feed(Array("data: {\"error\":{\"message\":\"context too long\"}}\n\n".utf8), now: .zero)
        #expect(s.serverError == "context too long")
    }

    @Test("progress is throttled to one message per 100 ms")
    func throttle() {
        var t = ProgressThrottle(ref: AttemptRef(job: JobID(rawValue: 1), attempt: 1))
        #expect(t.add("a", tokens: 1, now: Timestamp(unixMillis: 1000))?.outputDelta == "a")
        #expect(t.add("b", tokens: 1, now: Timestamp(unixMillis: 1050)) == nil)
        #expect(t.add("c", tokens: 1, now: Timestamp(unixMillis: 1099)) == nil)
        let p = t.add("d", tokens: 1, now: Timestamp(unixMillis: 1100))
        #expect(p?.outputDelta == "bcd")
        #expect(p?.completionTokens == 4)
    }
}

@Suite("Engine telemetry folding")
struct TelemetryFoldTests {
    let t0 = Timestamp(unixMillis: 1_764_000_000_000)

    @Test("counters carry across an engine restart; failures count in a row and blank the load; unsupported is none")
    func fold() {
        var f = TelemetryFold()
        let first = f.fold(.reading(EngineReading(source: .vllm, running: 2, waiting: 1, kvUsage: 0.5, promptTokens: 100, generationTokens: 40)), at: t0)
        #expect(first == EngineTelemetry(source: .vllm, running: 2, waiting: 1, kvUsage: 0.5, promptTokens: 100, generationTokens: 40, scrapedAt: t0))
        let failed = f.fold(.failed("connection refused"), at: t0 + 1000)
        #expect(failed?.failures == 1 && failed?.running == nil && failed?.kvUsage == nil)
        #expect(failed?.scrapedAt == t0 && failed?.generationTokens == 40, "the last good scrape and counters stay")
        // The engine restarted: its counters start again from 0.
        let after = f.fold(.reading(EngineReading(source: .vllm, running: 0, waiting: 0, promptTokens: 10, generationTokens: 5)), at: t0 + 2000)
        #expect(after?.generationTokens == 45 && after?.promptTokens == 110 && after?.failures == 0)
        #expect(f.fold(.unsupported("HTTP 404"), at: t0 + 3000) == nil)
    }
}
