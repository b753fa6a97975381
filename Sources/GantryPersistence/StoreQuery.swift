public import GantryModel

/// A read the core asks the shell to make from the store, off the coordinator's loop:
/// jobs no longer kept in memory, listings, and reports.
public enum StoreQuery: Hashable, Sendable {
    case job(JobID)
    /// Newest first.
    case jobs(JobFilter)
    /// Receipts and idle cost over [from, to), grouped; the store answers every row, the
    /// core pages them (the rows after `after`, `limit` of them).
    case report(by: ReportQuery.GroupBy, from: Timestamp, to: Timestamp, after: String? = nil, limit: Int = 0)
    /// The per-minute rollups, in buckets.
    case history(HistoryQuery)
}

/// What a store query found.
public enum StoreAnswer: Hashable, Sendable {
    case job(Job?)
    case jobs([Job])
    case report(Report)
    case history(History)
}

/// What a coordinator restarts from, before its jobs (which `restoreJobs` hands over in
/// batches).
public struct RestoredState: Sendable {
    public var nodes: [PersistedNode]
    /// Every job in the store, by state (the finished ones are not all loaded).
    public var counts: [JobState: Int]
    public var apiKeys: [ApiKey]

    public init(nodes: [PersistedNode], counts: [JobState: Int], apiKeys: [ApiKey] = []) {
        self.nodes = nodes
        self.counts = counts
        self.apiKeys = apiKeys
    }

    /// How many unfinished jobs `restoreJobs` will hand over.
    public var unfinished: Int { counts.reduce(0) { $0 + ($1.key.isTerminal ? 0 : $1.value) } }
}

/// The coordinator's durable state, as the shells use it. SQLite implements it; every
/// backend must make a batch durable as one transaction before `apply` returns.
public protocol CoordinatorStore: Sendable {
    /// Where the state lives, for logs and errors.
    var location: String { get }
    /// Makes a batch of changes durable, as one transaction (group commit).
    func apply(_ changes: [StoreChange]) async throws
    /// What a restarted coordinator needs first: every node and API key, and how many jobs
    /// the store holds in each state.
    func restoredState() async throws -> RestoredState
    /// Then its jobs: every unfinished job, then the most recent `finishedLimit` finished
    /// ones, each in id order and with its attempts and receipt, handed to `deliver` in
    /// batches as they are read, so that the caller takes in one batch while the next is
    /// read.
    func restoreJobs(finishedLimit: Int, deliver: @Sendable ([Job]) -> Void) async throws
    /// Answers a read.
    func answer(_ query: StoreQuery) async throws -> StoreAnswer
    /// Drops prompts and outputs of jobs finished before `cutoff`; returns how many.
    func pruneOutputs(finishedBefore cutoff: Timestamp) async throws -> Int
    /// Drops the history's minutes before `cutoff`; returns how many rows.
    func pruneHistory(before cutoff: Timestamp) async throws -> Int
}
