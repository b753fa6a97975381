import GantryModel
import GantryOpenAI
import Testing

@Suite("OpenAI requests and responses")
struct OpenAIRequestTests {
    static func parse(_ json: String, _ endpoint: OpenAIRequest.Endpoint = .completions) throws(OpenAIError) -> OpenAIRequest {
        try OpenAIRequest.parse(Array(json.utf8), endpoint: endpoint)
    }

    @Test("a completion request becomes an interactive job")
    func completion() throws {
        let r = try Self.parse(#"{"model": "m", "prompt": "hi", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "seed": 3, "stop": "\n", "stream": true, "stream_options": {"include_usage": true}, "user": "ignored"}"#)
        #expect(r.model == "m" && r.prompt == "hi" && r.maxTokens == 7 && r.stream && r.includeUsage)
        #expect(r.temperature == 0.5 && r.topP == 0.9 && r.seed == 3 && r.stop == ["\n"])
        let spec = r.jobSpec
        #expect(spec.kind == .completion && spec.interactive && spec.maxTokens == 7)
    }

    @Test("a chat request keeps its messages as JSON and as text")
    func chat() throws {
        let r = try Self.parse(#"{"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}], "max_completion_tokens": 4}"#, .chat)
        #expect(r.prompt == "system: be brief\nuser: hi\n")
        #expect(r.messages == #"[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}]"#
            || r.messages.contains(#""role":"system""#))
        #expect(r.maxTokens == 4)
        #expect(r.jobSpec.kind == .chat)
    }

    @Test("mistakes are 400s naming the field", arguments: [
        (#"{"prompt": "x"}"#, "'model' is required"),
        (#"{"model": "m"}"#, "'prompt' is required"),
        (#"{"model": "m", "prompt": ["a", "b"]}"#, "one string only"),
        (#"{"model": "m", "prompt": "x", "max_tokens": 0}"#, "'max_tokens' must be a positive integer"),
        (#"{"model": "m", "prompt": "x", "max_tokens": 1.5}"#, "'max_tokens' must be a positive integer"),
        (#"{"model": "m", "prompt": "x", "max_tokens": true}"#, "'max_tokens' must be a positive integer"),
        (#"{"model": "m", "prompt": "x", "temperature": 3}"#, "'temperature' must be a number in 0...2"),
        (#"{"model": "m", "prompt": "x", "stream": 1}"#, "'stream' must be true or false"),
        (#"{"model": "m", "prompt": "x", "n": 2}"#, "'n' must be 1"),
        (#"{"model": "m", "prompt": "x", "logprobs": 3}"#, "'logprobs' is not supported"),
        (#"{"model": "m", "prompt": "x", "stop": [1]}"#, "'stop' must be a string"),
        (#"{"model": "m", "prompt": "x", "echo": true}"#, "'echo' is not supported"),
        (#"[1, 2]"#, "must be a JSON object"),
        (#"{"model": "#, "not valid JSON"),
    ])
    func mistakes(_ json: String, _ fragment: String) {
        do {
            _ = try Self.parse(json)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.status == 400)
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }

    @Test("chat mistakes", arguments: [
        (#"{"model": "m", "messages": []}"#, "'messages' is required"),
        (#"{"model": "m", "messages": [{"content": "x"}]}"#, "messages[0] needs a 'role'"),
        (#"{"model": "m", "messages": [{"role": "user", "content": 5}]}"#, "messages[0].content must be"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}"#, "'tools' is not supported"),
    ])
    func chatMistakes(_ json: String, _ fragment: String) {
        do {
            _ = try Self.parse(json, .chat)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }

    @Test("coordinator errors map to OpenAI's statuses", arguments: [
        (ErrorCode.authFailed, 401), (.notFound, 404), (.queueFull, 429), (.limitExceeded, 429), (.badRequest, 400), (.unavailable, 503),
    ])
    func statuses(_ code: ErrorCode, _ status: Int) {
        let e = OpenAIError(GantryError(code, "m"))
        #expect(e.status == status)
        if status == 429 || status == 503 { #expect(e.retryAfter != nil) }
        #expect(e.json.hasPrefix(#"{"error":{"message":"m","type":"#))
    }

    @Test("streamed chunks and the whole response have OpenAI's shapes; text is escaped")
    func shapes() {
        var job = Job(id: JobID(rawValue: 42 << 20), spec: JobSpec(model: "m", prompt: "p", maxTokens: 2), submittedAt: Timestamp(unixMillis: 0))
        job.output = "a \"quote\"\n"
        job.usage = Usage(promptTokens: 3, completionTokens: 2)
        job.finishReason = "length"
        job.receipt = Receipt(completionTokens: 2, energyMillijoules: 1500, depreciationMicroUSD: 12)
        let chat = OpenAIResponder(endpoint: .chat, job: job.id, model: "m", created: 7)
        #expect(chat.chunk("hi\n", first: true).contains(#""delta":{"role":"assistant","content":"hi\n"}"#))
        #expect(chat.chunk("x").hasPrefix("data: {") && chat.chunk("x").hasSuffix("}\n\n"))
        #expect(chat.finish("stop").contains(#""finish_reason":"stop""#))
        let whole = chat.whole(job)
        #expect(whole.contains(#""content":"a \"quote\"\n""#))
        #expect(whole.contains(#""prompt_tokens":3,"completion_tokens":2,"total_tokens":5"#))
        #expect(whole.contains(#""cost_usd":0.000012,"energy_joules":1.500"#))
        #expect(OpenAIResponder(endpoint: .completions, job: job.id, model: "m", created: 7).usageChunk(job).contains(#""choices":[],"usage":"#))
        #expect(OpenAIResponder.done == "data: [DONE]\n\n")
    }

    @Test("API keys are gk-<id>-<secret>", arguments: [
        ("gk-abcd1234-0123456789abcdef0123", true), ("gk-abcd1234-short", false), ("sk-abcd1234-0123456789abcdef0123", false),
        ("gk-ab-0123456789abcdef0123", false), ("gk-abcd1234-0123456789abcdef012!", false), ("gk-abcd12340123456789abcdef0123", false),
    ])
    func keyShape(_ key: String, _ valid: Bool) {
        #expect((ApiKey.parse(key) != nil) == valid)
    }
}
