public import AsyncHTTPClient

public import GantryModel
public import GantryTelemetry
public import NIOCore

/// Reads an OpenAI-compatible engine's own telemetry: `GET /metrics` and, for llama-server
/// builds without a KV gauge, `GET /slots`.
public struct EngineScraper: Sendable {
    public enum Outcome: Hashable, Sendable {
        case reading(EngineReading)
        /// The engine has no metrics Gantry can read (404, llama-server without `--metrics`,
        /// or an engine Gantry does not know): placement uses slots alone.
        case unsupported(String)
        /// The engine did not answer, or answered with an error.
        case failed(String)
    }

    let baseURL: String
    let client: HTTPClient
    let apiKey: String?
    let timeout: TimeAmount

    public init(baseURL: String, client: HTTPClient = .shared, apiKey: String? = nil, timeout: TimeAmount = .seconds(2)) {
        self.baseURL = baseURL
        self.client = client
        self.apiKey = apiKey
        self.timeout = timeout
    }

    public func scrape() async -> Outcome {
        let metrics: [UInt8]
        switch await get("/metrics", accept: "text/plain; version=0.0.4") {
        case .success(let body): metrics = body
        case .failure(let failure): return failure.outcome
        }
        guard var reading = EngineReading(metrics: String(decoding: metrics, as: UTF8.self)) else {
            return .unsupported("\(baseURL)/metrics is not llama-server's, vLLM's or SGLang's")
        }
        // llama-server builds since May 2025 print no KV gauge; their slots tell it.
        if reading.source == .llamacpp, reading.kvUsage == nil, case .success(let slots) = await get("/slots", accept: "application/json") {
            reading.kvUsage = LlamaSlots.kvUsage(slots)
        }
        return .reading(reading)
    }

    struct Failure: Error {
        var outcome: Outcome
    }

    private func get(_ path: String, accept: String) async -> Result<[UInt8], Failure> {
        var request = HTTPClientRequest(url: baseURL + path)
        request.headers.add(name: "Accept", value: accept)
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        do {
            let response = try await client.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 4 << 20)
            switch response.status.code {
            case 200..<300:
                return .success(Array(buffer: body))
            case 404, 501:
                // 501 is llama-server started without --metrics (or --no-slots).
                return .failure(Failure(outcome: .unsupported("GET \(baseURL)\(path) returned HTTP \(response.status.code)")))
            default:
                return .failure(Failure(outcome: .failed("GET \(baseURL)\(path) returned HTTP \(response.status.code)")))
            }
        } catch {
            return .failure(Failure(outcome: .failed("GET \(baseURL)\(path) failed: \(error)")))
        }
    }
}

/// Folds scrapes into what heartbeats carry: counters kept monotonic across engine restarts,
/// failures counted in a row, the time of the last good scrape.
public struct TelemetryFold: Sendable {
    private var prompt = CounterTracker()
    private var generation = CounterTracker()
    private var cached = CounterTracker()
    public private(set) var current = EngineTelemetry()

    public init() {}

    /// The telemetry after one scrape; nil when the engine has none to read.
    public mutating func fold(_ outcome: EngineScraper.Outcome, at now: Timestamp) -> EngineTelemetry? {
        switch outcome {
        case .reading(let r):
            current = EngineTelemetry(
                source: r.source, running: r.running, waiting: r.waiting, kvUsage: r.kvUsage,
                promptTokens: prompt.total(r.promptTokens), generationTokens: generation.total(r.generationTokens),
                cachedPromptTokens: cached.total(r.cachedPromptTokens), scrapedAt: now, failures: 0)
            return current
        case .failed:
            // What the engine last said is stale: its load is unknown until it answers again.
            current.failures += 1
            current.running = nil
            current.waiting = nil
            current.kvUsage = nil
            return current
        case .unsupported:
            current = EngineTelemetry()
            return nil
        }
    }
}
