public import GantryModel

/// A request to `/v1/completions` or `/v1/chat/completions`, checked and turned into a job.
/// Fields the API has and Gantry does not (several choices, logprobs, tools) are refused
/// with a message naming them; fields that change nothing here (`user`) are ignored.
public struct OpenAIRequest: Hashable, Sendable {
    public enum Endpoint: String, Sendable, Hashable {
        case completions = "/v1/completions"
        case chat = "/v1/chat/completions"
    }

    public var endpoint: Endpoint
    public var model: String
    /// The completion prompt, or the chat messages as plain text.
    public var prompt: String
    /// The chat `messages` array, as JSON.
    public var messages: String
    public var maxTokens: Int?
    public var temperature: Float?
    public var topP: Float?
    public var seed: UInt64?
    public var stop: [String]
    public var stream: Bool
    public var includeUsage: Bool

    /// Parses a request body; every mistake is a 400 naming the field.
    public static func parse(_ body: [UInt8], endpoint: Endpoint) throws(OpenAIError) -> OpenAIRequest {
        let root: JSONAny
        do {
            root = try JSONAny.parse(body)
        } catch {
            throw OpenAIError.badRequest("the request body is not valid JSON")
        }
        guard case .object(let object, _) = root else { throw OpenAIError.badRequest("the request body must be a JSON object") }
        var r = OpenAIRequest(
            endpoint: endpoint, model: "", prompt: "", messages: "", maxTokens: nil, temperature: nil, topP: nil, seed: nil,
            stop: [], stream: false, includeUsage: false)
        guard case .string(let model)? = object["model"], !model.isEmpty else {
            throw OpenAIError.badRequest("'model' is required (a string)", code: "missing_model")
        }
        r.model = model
        switch endpoint {
        case .completions:
            switch object["prompt"] {
            case .string(let p)?: r.prompt = p
            case .array(let list)? where list.count == 1:
                guard case .string(let p) = list[0] else { throw OpenAIError.badRequest("'prompt' must be a string") }
                r.prompt = p
            case .array?: throw OpenAIError.badRequest("'prompt' may hold one string only (send one request per prompt)")
            default: throw OpenAIError.badRequest("'prompt' is required (a string)")
            }
            for unsupported in ["echo", "best_of", "suffix"] where object[unsupported]?.isSet == true {
                throw OpenAIError.badRequest("'\(unsupported)' is not supported by Gantry")
            }
        case .chat:
            guard case .array(let messages)? = object["messages"], !messages.isEmpty else {
                throw OpenAIError.badRequest("'messages' is required (a non-empty array)")
            }
            var text = ""
            for (i, m) in messages.enumerated() {
                guard case .string(let role)? = m["role"] else {
                    throw OpenAIError.badRequest("messages[\(i)] needs a 'role' (a string)")
                }
                let content: String
                switch m["content"] {
                case .string(let s)?: content = s
                case .array(let parts)?:
                    content = parts.compactMap { if case .string(let t)? = $0["text"] { t } else { nil } }.joined(separator: "\n")
                case nil, .null?: content = ""
                default: throw OpenAIError.badRequest("messages[\(i)].content must be a string or an array of parts")
                }
                text += role + ": " + content + "\n"
            }
            r.prompt = text
            r.messages = JSONAny.array(messages).text
            for unsupported in ["tools", "functions", "tool_choice", "function_call"] where object[unsupported]?.isSet == true {
                throw OpenAIError.badRequest("'\(unsupported)' is not supported by Gantry")
            }
        }
        if let n = object["n"], !n.isNull, n != .int(1) { throw OpenAIError.badRequest("'n' must be 1: Gantry returns one choice") }
        if object["logprobs"]?.isSet == true { throw OpenAIError.badRequest("'logprobs' is not supported by Gantry") }
        for key in ["max_tokens", "max_completion_tokens"] {
            guard let v = object[key], !v.isNull else { continue }
            guard case .int(let n) = v, n > 0, n <= Int64(Int32.max) else { throw OpenAIError.badRequest("'\(key)' must be a positive integer") }
            r.maxTokens = Int(n)
        }
        if let v = object["temperature"], !v.isNull {
            guard let t = number(v), t.isFinite, t >= 0, t <= 2 else { throw OpenAIError.badRequest("'temperature' must be a number in 0...2") }
            r.temperature = Float(t)
        }
        if let v = object["top_p"], !v.isNull {
            guard let p = number(v), p.isFinite, p > 0, p <= 1 else { throw OpenAIError.badRequest("'top_p' must be a number in (0, 1]") }
            r.topP = Float(p)
        }
        if let v = object["seed"], !v.isNull {
            guard case .int(let s) = v else { throw OpenAIError.badRequest("'seed' must be an integer") }
            r.seed = UInt64(bitPattern: s)
        }
        switch object["stop"] {
        case nil, .null?: break
        case .string(let s)?: r.stop = [s]
        case .array(let list)? where list.count <= 4:
            r.stop = try list.map { (v) throws(OpenAIError) -> String in
                guard case .string(let s) = v else { throw OpenAIError.badRequest("'stop' must be a string or an array of up to 4 strings") }
                return s
            }
        default: throw OpenAIError.badRequest("'stop' must be a string or an array of up to 4 strings")
        }
        if let v = object["stream"], !v.isNull {
            guard case .bool(let b) = v else { throw OpenAIError.badRequest("'stream' must be true or false") }
            r.stream = b
        }
        if let v = object["stream_options"], !v.isNull {
            guard case .object(let o, _) = v else { throw OpenAIError.badRequest("'stream_options' must be an object") }
            if let u = o["include_usage"], !u.isNull {
                guard case .bool(let b) = u else { throw OpenAIError.badRequest("'stream_options.include_usage' must be true or false") }
                r.includeUsage = b
            }
        }
        return r
    }

    static func number(_ v: JSONAny) -> Double? {
        switch v {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    /// The job this request becomes (the key fixes its tenant and priority).
    public var jobSpec: JobSpec {
        JobSpec(
            model: model, prompt: prompt, maxTokens: maxTokens ?? 0, temperature: temperature, seed: seed,
            kind: endpoint == .chat ? .chat : .completion, messages: messages, stop: stop, topP: topP, interactive: true)
    }
}
