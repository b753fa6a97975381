public enum JobState: String, Sendable, CaseIterable, Codable {
    case queued, assigned, running, succeeded, failed, cancelled

    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled: true
        case .queued, .assigned, .running: false
        }
    }
}

/// What a job asks for: a completion of `prompt`, or (`.chat`) an answer to `messages`.
public enum JobKind: String, Hashable, Sendable, Codable {
    case completion, chat
}

/// What a client asks for. Validated by the coordinator on submit.
public struct JobSpec: Hashable, Sendable {
    public var model: String
    /// The text to continue; for a chat job, its messages as plain text (what token
    /// estimates and prefix affinity read).
    public var prompt: String
    public var maxTokens: Int
    /// Higher runs first.
    public var priority: Int
    public var tenant: String
    /// Node labels the job needs, e.g. `["pool": "h200"]`.
    public var constraints: Labels
    public var temperature: Float?
    public var seed: UInt64?
    /// 0: the agent's default.
    public var timeoutMs: Int
    public var kind: JobKind

    /// What only API requests carry, out of line (most jobs have none of it).
    struct APIFields: Hashable, Sendable {
        var messages = ""
        var stop: [String] = []
        var topP: Float?
        var interactive = false
        var apiKeyID: String?
    }

    /// Out of line; the getters below read their one field from the box, not a copy of all.
    var api: Boxed<APIFields>?

    /// A chat job's OpenAI `messages` array, as JSON: the engine applies its own template.
    public var messages: String {
        get { api?.value.messages ?? "" }
        set { api.update(empty: APIFields()) { $0.messages = newValue } }
    }
    public var stop: [String] {
        get { api?.value.stop ?? [] }
        set { api.update(empty: APIFields()) { $0.stop = newValue } }
    }
    public var topP: Float? {
        get { api?.value.topP }
        set { api.update(empty: APIFields()) { $0.topP = newValue } }
    }
    /// A live request (the OpenAI API): streamed chunk by chunk, and not retried once it
    /// streamed text.
    public var interactive: Bool {
        get { api?.value.interactive ?? false }
        set { api.update(empty: APIFields()) { $0.interactive = newValue } }
    }
    /// The API key the request came with (its id).
    public var apiKeyID: String? {
        get { api?.value.apiKeyID }
        set { api.update(empty: APIFields()) { $0.apiKeyID = newValue } }
    }

    public init(
        model: String, prompt: String, maxTokens: Int = 0, priority: Int = 0, tenant: String = "",
        constraints: Labels = [:], temperature: Float? = nil, seed: UInt64? = nil, timeoutMs: Int = 0,
        kind: JobKind = .completion, messages: String = "", stop: [String] = [], topP: Float? = nil,
        interactive: Bool = false, apiKeyID: String? = nil
    ) {
        self.model = model
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.priority = priority
        self.tenant = tenant
        self.constraints = constraints
        self.temperature = temperature
        self.seed = seed
        self.timeoutMs = timeoutMs
        self.kind = kind
        self.api = nil
        api.update(empty: APIFields()) { $0 = APIFields(messages: messages, stop: stop, topP: topP, interactive: interactive, apiKeyID: apiKeyID) }
    }

    public static let defaultTenant = "default"
}

/// Identifies one assignment of a job. `attempt` is the fencing epoch: it only grows,
/// and messages about any attempt but the current one are refused.
public struct AttemptRef: Hashable, Sendable, CustomStringConvertible {
    public var job: JobID
    public var attempt: UInt32

    public init(job: JobID, attempt: UInt32) {
        self.job = job
        self.attempt = attempt
    }

    public var description: String { "\(job)#\(attempt)" }
}

public enum AttemptState: String, Sendable, CaseIterable, Codable {
    /// Sent to the agent; its slot is assumed but not confirmed.
    case assigned
    /// The agent accepted it.
    case running
    case succeeded, failed, cancelled
    /// The node was lost while the attempt ran.
    case lost
    /// The agent refused it, or did not answer in time.
    case rejected

    public var isTerminal: Bool { self != .assigned && self != .running }
}

public struct Attempt: Hashable, Sendable {
    public var number: UInt32
    public var node: NodeID
    public var engine: String
    public var state: AttemptState
    public var error: String?
    public var assignedAt: Timestamp
    public var startedAt: Timestamp?
    public var finishedAt: Timestamp?
    /// What the attempt cost, once it reported a result.
    public var receipt: Receipt?

    public init(
        number: UInt32, node: NodeID, engine: String, state: AttemptState = .assigned, error: String? = nil,
        assignedAt: Timestamp, startedAt: Timestamp? = nil, finishedAt: Timestamp? = nil, receipt: Receipt? = nil
    ) {
        self.number = number
        self.node = node
        self.engine = engine
        self.state = state
        self.error = error
        self.assignedAt = assignedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.receipt = receipt
    }
}

public struct Usage: Hashable, Sendable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// True when the engine reported no usage and the agent counted streamed chunks.
    public var estimated: Bool

    public init(promptTokens: Int = 0, completionTokens: Int = 0, estimated: Bool = false) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.estimated = estimated
    }

    public var totalTokens: Int { promptTokens + completionTokens }
}

/// A job and everything known about it.
public struct Job: Hashable, Sendable {
    public var id: JobID
    public var spec: JobSpec
    public var state: JobState
    public var attempts: [Attempt]
    public var output: String
    public var usage: Usage
    public var error: String?
    public var submittedAt: Timestamp
    public var startedAt: Timestamp?
    public var firstTokenAt: Timestamp?
    public var finishedAt: Timestamp?
    public var simulated: Bool
    /// What its attempts cost, once one finished (out of line: a queued job has none).
    public var receipt: Receipt? {
        get { receiptBox?.value }
        set { receiptBox = newValue.map { Boxed($0) } }
    }
    var receiptBox: Boxed<Receipt>?
    /// Why generation stopped, as the engine said ("stop", "length", …).
    public var finishReason: String?

    public init(id: JobID, spec: JobSpec, submittedAt: Timestamp) {
        self.id = id
        self.spec = spec
        self.state = .queued
        self.attempts = []
        self.output = ""
        self.usage = Usage()
        self.error = nil
        self.submittedAt = submittedAt
        self.simulated = false
        self.receiptBox = nil
    }

    public var currentAttempt: Attempt? { attempts.last }
    /// The node of the current or last attempt.
    public var node: NodeID? { attempts.last?.node }
}

/// What one finished attempt cost. Integer micro-dollars and millijoules.
public struct Receipt: Hashable, Sendable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var wallMs: Int64
    public var slotMs: Int64
    /// The attempt's share of its node's busy wall time (shares on a node add up to the
    /// node's busy time).
    public var busyMicros: Int64
    public var energyMillijoules: Int64
    public var energyMeasured: Bool
    public var depreciationMicroUSD: Int64
    public var energyMicroUSD: Int64
    public var overheadMicroUSD: Int64

    public init(
        promptTokens: Int = 0, completionTokens: Int = 0, wallMs: Int64 = 0, slotMs: Int64 = 0, busyMicros: Int64 = 0,
        energyMillijoules: Int64 = 0, energyMeasured: Bool = false, depreciationMicroUSD: Int64 = 0,
        energyMicroUSD: Int64 = 0, overheadMicroUSD: Int64 = 0
    ) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.wallMs = wallMs
        self.slotMs = slotMs
        self.busyMicros = busyMicros
        self.energyMillijoules = energyMillijoules
        self.energyMeasured = energyMeasured
        self.depreciationMicroUSD = depreciationMicroUSD
        self.energyMicroUSD = energyMicroUSD
        self.overheadMicroUSD = overheadMicroUSD
    }

    public var totalMicroUSD: Int64 { depreciationMicroUSD + energyMicroUSD + overheadMicroUSD }

    /// Two receipts added (a job's attempts).
    public static func + (a: Receipt, b: Receipt) -> Receipt {
        Receipt(
            promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens,
            wallMs: a.wallMs + b.wallMs, slotMs: a.slotMs + b.slotMs, busyMicros: a.busyMicros + b.busyMicros,
            energyMillijoules: a.energyMillijoules + b.energyMillijoules, energyMeasured: a.energyMeasured && b.energyMeasured,
            depreciationMicroUSD: a.depreciationMicroUSD + b.depreciationMicroUSD, energyMicroUSD: a.energyMicroUSD + b.energyMicroUSD,
            overheadMicroUSD: a.overheadMicroUSD + b.overheadMicroUSD)
    }
}

extension Job {
    /// About how many bytes the job takes in a frame (its texts, plus room for the rest),
    /// never less: what a page of jobs is sized by.
    public var wireSizeEstimate: Int {
        512 + spec.prompt.utf8.count + output.utf8.count + (error?.utf8.count ?? 0) + attempts.count * 256
            + attempts.reduce(0) { $0 + ($1.error?.utf8.count ?? 0) }
    }
}
