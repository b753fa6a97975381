import GantryRuntime
public import AsyncHTTPClient
public import GantryConfig
public import GantryModel
import GantryNet
import Foundation
import NIOCore
import NIOHTTP1

/// Any OpenAI-compatible server: vLLM, SGLang, llama.cpp's llama-server, TGI, Ollama.
///
/// POSTs `/v1/completions` (or, for a chat job, `/v1/chat/completions` with the job's
/// messages, so the engine applies its own chat template) with `stream: true` and
/// `stream_options.include_usage`, reads the server-sent events, records the first-token
/// time, and takes the server's final `usage` and finish reason. When the server sends no
/// usage, it counts streamed chunks and marks the counts estimated. A live request's chunks
/// go to the coordinator one by one, at once; others at most every 100 ms. Cancelling the
/// task aborts the HTTP request, so the engine frees the slot.
public struct OpenAIEngine: Engine {
    public let config: EngineConfig
    let client: HTTPClient
    let apiKey: String?
    let maxOutputBytes: Int

    public init(config: EngineConfig, client: HTTPClient = .shared, apiKey: String? = nil, maxOutputBytes: Int = 1 << 20) {
        self.config = config
        self.client = client
        self.apiKey = apiKey
        self.maxOutputBytes = maxOutputBytes
    }

    public var scraper: EngineScraper? {
        // A scrape gets at most one interval (and at most 5 s), so failures are counted by
        // interval, however an unreachable engine fails.
        let timeout = TimeAmount.milliseconds(min(config.telemetryIntervalMs, 5000))
        return config.telemetry ? EngineScraper(baseURL: config.url, client: client, apiKey: apiKey, timeout: timeout) : nil
    }

    public func probe() async -> EngineHealth {
        var request = HTTPClientRequest(url: config.url + config.healthPath)
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        do {
            let response = try await client.execute(request, timeout: .seconds(3))
            _ = try? await response.body.collect(upTo: 1 << 20)
            guard (200..<300).contains(response.status.code) else {
                return EngineHealth(healthy: false, detail: "GET \(config.healthPath) returned HTTP \(response.status.code)")
            }
            return EngineHealth(healthy: true, detail: config.url)
        } catch {
            return EngineHealth(healthy: false, detail: "GET \(config.url)\(config.healthPath) failed: \(error)")
        }
    }

    static func requestBody(_ a: Assignment) -> Data {
        var body: [String: Any] = [
            "model": a.spec.model, "max_tokens": a.spec.maxTokens, "stream": true, "stream_options": ["include_usage": true],
        ]
        if a.spec.kind == .chat, let messages = try? JSONSerialization.jsonObject(with: Data(a.spec.messages.utf8)) {
            body["messages"] = messages
        } else {
            body["prompt"] = a.spec.prompt
        }
        if let t = a.spec.temperature { body["temperature"] = Double(t) }
        if let p = a.spec.topP { body["top_p"] = Double(p) }
        if let s = a.spec.seed { body["seed"] = s }
        if !a.spec.stop.isEmpty { body["stop"] = a.spec.stop }
        return (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
    }

    static func path(_ a: Assignment) -> String {
        a.spec.kind == .chat ? "/v1/chat/completions" : "/v1/completions"
    }

    public func run(_ a: Assignment, progress: @escaping @Sendable (JobProgress) async -> Void) async -> AttemptResult {
        let startedAt = WallClock.now()
        let timeoutMs = a.spec.timeoutMs > 0 ? Int64(a.spec.timeoutMs) : config.timeoutMs
        let path = Self.path(a)
        var request = HTTPClientRequest(url: config.url + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        request.body = .bytes(ByteBuffer(bytes: Self.requestBody(a)))

        var stream = CompletionStream(ref: a.ref, maxOutputBytes: maxOutputBytes, progressEveryMs: a.spec.interactive ? 0 : 100)
        do {
            let response = try await executeRetryingStaleConnection(request, timeoutMs: timeoutMs)
            guard response.status == .ok else {
                let body = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
                return .failure(a, engine: config.name, startedAt: startedAt, error: "POST \(path) returned HTTP \(response.status.code): \(body.prefix(300))")
            }
            for try await chunk in response.body {
                for p in try stream.feed(chunk.readableBytesView, now: WallClock.now()) { await progress(p) }
                if stream.done { break }
            }
        } catch {
            if Task.isCancelled {
                var r = AttemptResult.failure(a, engine: config.name, startedAt: startedAt, error: "cancelled", cancelled: true)
                r.output = stream.output.text
                r.usage = stream.usage
                return r
            }
            return .failure(a, engine: config.name, startedAt: startedAt, error: "streaming from \(config.url) failed: \(error)")
        }
        if let e = stream.serverError {
            return .failure(a, engine: config.name, startedAt: startedAt, error: "the engine reported: \(e)")
        }
        guard stream.done || stream.finishReason != nil else {
            return .failure(a, engine: config.name, startedAt: startedAt, error: "the stream from \(config.url) ended before [DONE]")
        }
        return AttemptResult(
            ref: a.ref, outcome: .succeeded, output: stream.output.text, usage: stream.usage, engine: config.name,
            startedAt: startedAt, firstTokenAt: stream.firstTokenAt, finishedAt: WallClock.now(), outputTruncated: stream.output.truncated,
            finishReason: stream.finishReason)
    }
}

extension OpenAIEngine {
    /// Sends the request; if a pooled keep-alive connection turns out to be closed before
    /// any response arrived (servers such as llama-server close connections after a few
    /// requests), sends it again on a fresh one, up to twice. Nothing reached the engine's
    /// generation in that case, so no work is repeated.
    func executeRetryingStaleConnection(_ request: HTTPClientRequest, timeoutMs: Int64) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            do {
                return try await client.execute(request, timeout: .milliseconds(timeoutMs))
            } catch where Self.isStaleConnection(error) && attempt < 2 && !Task.isCancelled {
                attempt += 1
            }
        }
    }
}

extension OpenAIEngine {
    static func isStaleConnection(_ error: any Error) -> Bool {
        if let e = error as? HTTPClientError, e == .remoteConnectionClosed { return true }
        if let e = error as? ChannelError, e == .ioOnClosedChannel || e == .eof || e == .outputClosed { return true }
        return false
    }
}

/// The state of one streamed completion: text so far, usage, first-token time.
struct CompletionStream {
    var parser = SSEParser()
    var throttle: ProgressThrottle
    var output: OutputBuffer
    var reportedUsage: Usage?
    var chunks = 0
    var done = false
    var finishReason: String?
    var serverError: String?

    init(ref: AttemptRef, maxOutputBytes: Int, progressEveryMs: Int64 = 100) {
        self.throttle = ProgressThrottle(ref: ref, intervalMs: progressEveryMs)
        self.output = OutputBuffer(limit: maxOutputBytes)
    }

    var firstTokenAt: Timestamp? { throttle.firstTokenAt }

    /// The server's usage, or streamed chunks counted (one token each) and marked estimated.
    var usage: Usage { reportedUsage ?? Usage(promptTokens: 0, completionTokens: chunks, estimated: true) }

    /// Feeds raw bytes; returns progress messages that became due.
    mutating func feed<Bytes: Sequence>(_ bytes: Bytes, now: Timestamp) throws -> [JobProgress] where Bytes.Element == UInt8 {
        var out: [JobProgress] = []
        for event in try parser.feed(bytes) {
            if event == "[DONE]" {
                done = true
                break
            }
            guard let data = event.data(using: .utf8),
                let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            else { continue }
            if let error = object["error"] {
                serverError = ((error as? [String: Any])?["message"] as? String) ?? "\(error)"
                continue
            }
            if let choices = object["choices"] as? [[String: Any]], let first = choices.first {
                // A completion chunk carries `text`; a chat chunk `delta.content`.
                let text = (first["text"] as? String) ?? ((first["delta"] as? [String: Any])?["content"] as? String)
                if let text, !text.isEmpty {
                    chunks += 1
                    output.append(text)
                    if let p = throttle.add(text, tokens: 1, now: now) { out.append(p) }
                }
                if let reason = first["finish_reason"] as? String { finishReason = reason }
            }
            if let u = object["usage"] as? [String: Any] {
                reportedUsage = Usage(
                    promptTokens: (u["prompt_tokens"] as? NSNumber)?.intValue ?? 0,
                    completionTokens: (u["completion_tokens"] as? NSNumber)?.intValue ?? 0, estimated: false)
            }
        }
        return out
    }
}
