public import GantryModel

/// The OpenAI API's response shapes for one request, built as text: whole responses, and the
/// server-sent-event chunks of a streamed one (`data: {…}\n\n`, then `data: [DONE]\n\n`).
public struct OpenAIResponder: Sendable {
    public let endpoint: OpenAIRequest.Endpoint
    public let id: String
    public let model: String
    public let created: Int64

    public init(endpoint: OpenAIRequest.Endpoint, job: JobID, model: String, created: Int64) {
        self.endpoint = endpoint
        self.id = (endpoint == .chat ? "chatcmpl-" : "cmpl-") + job.description
        self.model = model
        self.created = created
    }

    private var object: String { endpoint == .chat ? "chat.completion" : "text_completion" }
    private var chunkObject: String { endpoint == .chat ? "chat.completion.chunk" : "text_completion" }

    private func head(_ object: String) -> String {
        var s = "{\"id\":\"" + id + "\",\"object\":\"" + object + "\",\"created\":" + String(created) + ",\"model\":"
        JSONText.string(model, into: &s)
        return s
    }

    /// One streamed piece of text (the first chat chunk also says the role).
    public func chunk(_ text: String, first: Bool = false) -> String {
        var s = "data: " + head(chunkObject) + ",\"choices\":[{\"index\":0,"
        if endpoint == .chat {
            s += first ? "\"delta\":{\"role\":\"assistant\",\"content\":" : "\"delta\":{\"content\":"
            JSONText.string(text, into: &s)
            s += "},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        } else {
            s += "\"text\":"
            JSONText.string(text, into: &s)
            s += ",\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        }
        return s
    }

    /// The last chunk with choices: the finish reason.
    public func finish(_ reason: String) -> String {
        var s = "data: " + head(chunkObject) + ",\"choices\":[{\"index\":0,"
        s += endpoint == .chat ? "\"delta\":{}," : "\"text\":\"\","
        s += "\"logprobs\":null,\"finish_reason\":"
        JSONText.string(reason, into: &s)
        return s + "}]}\n\n"
    }

    /// With `stream_options.include_usage`: a chunk with no choices and the usage.
    public func usageChunk(_ job: Job) -> String {
        "data: " + head(chunkObject) + ",\"choices\":[],\"usage\":" + Self.usage(job) + "}\n\n"
    }

    /// A failure after the stream began: an error event, as OpenAI's servers send one.
    public func errorChunk(_ error: OpenAIError) -> String { "data: " + error.json + "\n\n" }

    public static let done = "data: [DONE]\n\n"

    /// The whole response of a request that was not streamed.
    public func whole(_ job: Job) -> String {
        var s = head(object) + ",\"choices\":[{\"index\":0,"
        if endpoint == .chat {
            s += "\"message\":{\"role\":\"assistant\",\"content\":"
            JSONText.string(job.output, into: &s)
            s += "},"
        } else {
            s += "\"text\":"
            JSONText.string(job.output, into: &s)
            s += ","
        }
        s += "\"logprobs\":null,\"finish_reason\":"
        JSONText.string(Self.finishReason(job), into: &s)
        return s + "}],\"usage\":" + Self.usage(job) + "}"
    }

    public static func finishReason(_ job: Job) -> String {
        job.finishReason ?? (job.usage.completionTokens >= job.spec.maxTokens ? "length" : "stop")
    }

    /// The engine's own token counts, and the receipt as `usage.gantry`, which OpenAI
    /// clients ignore.
    public static func usage(_ job: Job) -> String {
        let u = job.usage
        var s = "{\"prompt_tokens\":\(u.promptTokens),\"completion_tokens\":\(u.completionTokens),\"total_tokens\":\(u.totalTokens)"
        s += ",\"gantry\":{\"job_id\":\"\(job.id)\",\"node\":"
        if let node = job.node { JSONText.string(node.rawValue, into: &s) } else { s += "null" }
        if let r = job.receipt {
            s += ",\"cost_usd\":" + JSONText.dollars(r.totalMicroUSD) + ",\"energy_joules\":" + JSONText.joules(r.energyMillijoules)
            s += ",\"energy_measured\":" + (r.energyMeasured ? "true" : "false")
        } else {
            s += ",\"cost_usd\":null,\"energy_joules\":null"
        }
        s += ",\"tokens_estimated\":" + (u.estimated ? "true" : "false") + "}}"
        return s
    }

    /// `GET /v1/models`.
    public static func models(_ names: [String], created: Int64) -> String {
        var s = "{\"object\":\"list\",\"data\":["
        for (i, name) in names.enumerated() {
            if i > 0 { s += "," }
            s += "{\"id\":"
            JSONText.string(name, into: &s)
            s += ",\"object\":\"model\",\"created\":\(created),\"owned_by\":\"gantry\"}"
        }
        return s + "]}"
    }
}
