/// What an engine says about itself, as its agent last scraped it (`/metrics`, and
/// `/slots` for llama-server), carried in heartbeats. Placement reads the engine's own view
/// of its load; accounting compares its token counters with Gantry's receipts.
public struct EngineTelemetry: Hashable, Sendable {
    public enum Source: String, Hashable, Sendable, Codable {
        case llamacpp, vllm, sglang
    }

    public var source: Source?
    /// Requests the engine is running and keeping waiting (its own queue).
    public var running: Int?
    public var waiting: Int?
    /// KV-cache use, 0...1; nil when unknown.
    public var kvUsage: Double?
    /// The engine's token counters since the agent started, kept monotonic across engine
    /// restarts (a counter that went down restarted from 0).
    public var promptTokens: UInt64?
    public var generationTokens: UInt64?
    public var cachedPromptTokens: UInt64?
    /// When the last scrape succeeded, and how many have failed since.
    public var scrapedAt: Timestamp?
    public var failures: Int
    /// Gantry's own attempts on the engine when it was scraped.
    public var gantryRunning: Int

    public init(
        source: Source? = nil, running: Int? = nil, waiting: Int? = nil, kvUsage: Double? = nil, promptTokens: UInt64? = nil,
        generationTokens: UInt64? = nil, cachedPromptTokens: UInt64? = nil, scrapedAt: Timestamp? = nil, failures: Int = 0,
        gantryRunning: Int = 0
    ) {
        self.source = source
        self.running = running
        self.waiting = waiting
        self.kvUsage = kvUsage
        self.promptTokens = promptTokens
        self.generationTokens = generationTokens
        self.cachedPromptTokens = cachedPromptTokens
        self.scrapedAt = scrapedAt
        self.failures = failures
        self.gantryRunning = gantryRunning
    }

    /// Requests the engine runs for other clients (0 when unknown).
    public var outside: Int { running.map { max(0, $0 - gantryRunning) } ?? 0 }
}
