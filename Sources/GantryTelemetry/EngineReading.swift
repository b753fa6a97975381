public import GantryModel

/// What one scrape of an engine said, in Gantry's terms, whatever the engine. Each field is
/// nil when this engine does not report it (or reported NaN).
public struct EngineReading: Hashable, Sendable {
    public var source: EngineTelemetry.Source
    public var running: Int?
    public var waiting: Int?
    /// KV-cache use, 0...1.
    public var kvUsage: Double?
    /// The engine's own counters, as it printed them (they restart at 0 when it does).
    public var promptTokens: Double?
    public var generationTokens: Double?
    public var cachedPromptTokens: Double?

    public init(
        source: EngineTelemetry.Source, running: Int? = nil, waiting: Int? = nil, kvUsage: Double? = nil, promptTokens: Double? = nil,
        generationTokens: Double? = nil, cachedPromptTokens: Double? = nil
    ) {
        self.source = source
        self.running = running
        self.waiting = waiting
        self.kvUsage = kvUsage
        self.promptTokens = promptTokens
        self.generationTokens = generationTokens
        self.cachedPromptTokens = cachedPromptTokens
    }

    /// Reads an engine's `/metrics`. The names are the engines' own, checked against their
    /// sources (see Tests/GantryTelemetryTests/Fixtures and the README's engine section):
    ///
    /// - llama.cpp's llama-server (`--metrics`; tools/server, the JSON metric block of 2025
    ///   and `to_metrics()` of 2026): `llamacpp:requests_processing`, `requests_deferred`,
    ///   `prompt_tokens_total`, `tokens_predicted_total`, `prompt_tokens_cached_total`
    ///   (2026 builds, where `prompt_tokens_total` excludes cached tokens), and
    ///   `kv_cache_usage_ratio` (builds before 2025-05-21; later ones have no KV gauge, and
    ///   the agent estimates it from `/slots`).
    /// - vLLM (v1/metrics/loggers.py, v0.9–v0.12): `vllm:num_requests_running`,
    ///   `num_requests_waiting`, `kv_cache_usage_perc` (older: `gpu_cache_usage_perc`; both a
    ///   fraction), `prompt_tokens_total`, `generation_tokens_total`,
    ///   `prefix_cache_hits_total`; one series per `engine` label, summed.
    /// - SGLang (srt/metrics/collector.py): `sglang:num_running_reqs`, `num_queue_reqs`,
    ///   `token_usage`, `prompt_tokens_total`, `generation_tokens_total`,
    ///   `cached_tokens_total`; one series per scheduler, summed (KV use: the largest).
    ///
    /// Nil for anything else (an unknown engine: placement falls back to slots alone).
    public init?(metrics text: String) {
        let m = PrometheusText(text)
        func int(_ d: Double?) -> Int? { d.flatMap { $0.isFinite ? Int($0.rounded()) : nil } }
        func fraction(_ d: Double?) -> Double? { d.flatMap { $0.isFinite ? Swift.min(1, Swift.max(0, $0)) : nil } }
        if m.has(prefix: "llamacpp:") {
            var prompt = m.sum("llamacpp:prompt_tokens_total")
            let cached = m.sum("llamacpp:prompt_tokens_cached_total")
            // 2026 builds count cached prompt tokens apart; the prompt total is both.
            if let p = prompt, let c = cached { prompt = p + c }
            self.init(
                source: .llamacpp, running: int(m.sum("llamacpp:requests_processing")), waiting: int(m.sum("llamacpp:requests_deferred")),
                kvUsage: fraction(m.max("llamacpp:kv_cache_usage_ratio")), promptTokens: prompt,
                generationTokens: m.sum("llamacpp:tokens_predicted_total"), cachedPromptTokens: cached)
        } else if m.has(prefix: "vllm:") {
            self.init(
                source: .vllm, running: int(m.sum("vllm:num_requests_running")), waiting: int(m.sum("vllm:num_requests_waiting")),
                kvUsage: fraction(m.max("vllm:kv_cache_usage_perc") ?? m.max("vllm:gpu_cache_usage_perc")),
                promptTokens: m.sum("vllm:prompt_tokens_total"), generationTokens: m.sum("vllm:generation_tokens_total"),
                cachedPromptTokens: m.sum("vllm:prefix_cache_hits_total"))
        } else if m.has(prefix: "sglang:") {
            self.init(
                source: .sglang, running: int(m.sum("sglang:num_running_reqs")), waiting: int(m.sum("sglang:num_queue_reqs")),
                kvUsage: fraction(m.max("sglang:token_usage")), promptTokens: m.sum("sglang:prompt_tokens_total"),
                generationTokens: m.sum("sglang:generation_tokens_total"), cachedPromptTokens: m.sum("sglang:cached_tokens_total"))
        } else {
            return nil
        }
    }
}

/// Keeps an engine's counters monotonic across its restarts: when a counter goes down, the
/// engine restarted and counts from 0 again, so what it had counted is carried as an offset.
public struct CounterTracker: Hashable, Sendable {
    private var last: Double?
    private var offset: Double = 0

    public init() {}

    /// The counter's total since the agent first saw it, given the engine's latest value.
    public mutating func total(_ value: Double?) -> UInt64? {
        guard let value, value.isFinite, value >= 0 else { return last.map { UInt64(offset + $0) } }
        if let last, value < last { offset += last }
        last = value
        return UInt64((offset + value).rounded())
    }
}
