import Foundation
import GantryModel
import GantryTelemetry
import Testing

@Suite("Engine telemetry: the exposition parser and each engine's metrics")
struct EngineReadingTests {
    static func fixture(_ name: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test("the exposition format: labels, escapes, NaN, infinities, exponents, comments, timestamps")
    func parser() {
        let text = """
            # HELP vllm:num_requests_running Number of requests.
            # TYPE vllm:num_requests_running gauge
            # a comment that is neither HELP nor TYPE
            vllm:num_requests_running{engine="0",model_name="org/m \\"q\\" \\\\ x"} 3.0
            vllm:num_requests_running{engine="1",model_name="m",} 2 1700000000000
            llamacpp:prompt_tokens_total 1.23457e+06
            x_nan NaN
            x_cnan -nan
            x_inf +Inf
            x_minf -Inf
            this is not a sample
            broken{a="unterminated} 1
            """
        let m = PrometheusText(text)
        #expect(m.types["vllm:num_requests_running"] == "gauge")
        #expect(m.sum("vllm:num_requests_running") == 5)
        #expect(m.values("vllm:num_requests_running").first?.labels["model_name"] == "org/m \"q\" \\ x")
        #expect(m.sum("llamacpp:prompt_tokens_total") == 1_234_570)
        #expect(m.values("x_nan").first?.value.isNaN == true && m.values("x_cnan").first?.value.isNaN == true)
        #expect(m.values("x_inf").first?.value == .infinity && m.values("x_minf").first?.value == -.infinity)
        #expect(m.sum("x_nan") == nil, "NaN is no reading")
        #expect(m.unreadable == 2)
    }

    @Test("llama-server, as the tests' own build prints it (captured): busy slot, cached prompt tokens")
    func llamaCaptured() throws {
        let r = try #require(EngineReading(metrics: try Self.fixture("llamacpp-test-server.metrics.txt")))
        #expect(r.source == .llamacpp)
        #expect(r.running == 1 && r.waiting == 0)
        #expect(r.kvUsage == nil, "this build has no KV gauge; the agent reads /slots")
        #expect(r.generationTokens == 20)
        #expect(r.cachedPromptTokens == 2)
        let slots = try Self.fixture("llamacpp-test-server.slots.json")
        let kv = try #require(LlamaSlots.kvUsage(Array(slots.utf8)))
        // The busy slot holds its 1049 prompt tokens and the 1037 it generated, more than its
        // 2048 (the engine shifted its context): full. The idle slot's context counts as room.
        #expect(kv == 0.5, "\(kv)")
        #expect(r.promptTokens == 73)
    }

    @Test("llama-server before May 2025 had a KV gauge")
    func llamaLegacy() throws {
        let r = try #require(EngineReading(metrics: try Self.fixture("llamacpp-legacy-kvcache.metrics.txt")))
        #expect(r.source == .llamacpp)
        let kv = try #require(r.kvUsage)
        #expect(kv >= 0 && kv <= 1)
    }

    @Test("vLLM: series per engine summed; kv_cache_usage_perc (a fraction) with a NaN engine skipped")
    func vllm() throws {
        let text = try Self.fixture("vllm.metrics.txt")
        let m = PrometheusText(text)
        let r = try #require(EngineReading(metrics: text))
        #expect(r.source == .vllm)
        #expect(r.running == m.sum("vllm:num_requests_running").map { Int($0) })
        #expect(r.waiting == m.sum("vllm:num_requests_waiting").map { Int($0) })
        let kv = try #require(r.kvUsage)
        #expect(kv >= 0 && kv <= 1)
        #expect(r.generationTokens == m.sum("vllm:generation_tokens_total"))
        #expect(r.promptTokens == m.sum("vllm:prompt_tokens_total"))
        #expect(m.values("vllm:prompt_tokens_created").isEmpty == false, "the _created families are there, and not counted")
    }

    @Test("vLLM before v0.9.2: gpu_cache_usage_perc")
    func vllmOld() throws {
        let r = try #require(EngineReading(metrics: "vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 1.0\nvllm:gpu_cache_usage_perc{engine=\"0\",model_name=\"m\"} 0.42\n"))
        #expect(r.kvUsage == 0.42 && r.running == 1 && r.waiting == nil)
    }

    @Test("SGLang: schedulers summed, token_usage as KV use, NaN skipped")
    func sglang() throws {
        let text = try Self.fixture("sglang.metrics.txt")
        let m = PrometheusText(text)
        let r = try #require(EngineReading(metrics: text))
        #expect(r.source == .sglang)
        #expect(r.running == m.sum("sglang:num_running_reqs").map { Int($0) })
        #expect(r.waiting == m.sum("sglang:num_queue_reqs").map { Int($0) })
        #expect(r.kvUsage == m.max("sglang:token_usage"))
        #expect(r.generationTokens == m.sum("sglang:generation_tokens_total"))
    }

    @Test("an unknown engine gives no reading")
    func unknown() {
        #expect(EngineReading(metrics: "# TYPE x counter\nx_total 3\n") == nil)
        #expect(EngineReading(metrics: "\"# HELP llamacpp:prompt_tokens_total ...\\n\"") == nil, "a body printed as a JSON string (llama.cpp b7010–b7100)")
    }

    @Test("counters stay monotonic across an engine restart")
    func counterReset() {
        var t = CounterTracker()
        #expect(t.total(100) == 100)
        #expect(t.total(150) == 150)
        #expect(t.total(20) == 170, "the engine restarted: 150 before, 20 since")
        #expect(t.total(nil) == 170, "a missing value keeps the total")
        #expect(t.total(.nan) == 170)
        #expect(t.total(30) == 180)
    }
}
