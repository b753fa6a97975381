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

/// What a coordinator restarts from.
public struct RestoredState: Sendable {
    public var jobs: [Job]
    public var nodes: [PersistedNode]
    /// Every job in the store, by state (the finished ones are not all loaded).
    public var counts: [JobState: Int]
    public var apiKeys: [ApiKey]

    public init(jobs: [Job], nodes: [PersistedNode], counts: [JobState: Int], apiKeys: [ApiKey] = []) {
        self.jobs = jobs
        self.nodes = nodes
        self.counts = counts
        self.apiKeys = apiKeys
    }
}

/// The coordinator's durable state, as the shells use it. SQLite implements it; every
/// backend must make a batch durable as one transaction before `apply` returns.
public protocol CoordinatorStore: Sendable {
    /// Where the state lives, for logs and errors.
    var location: String { get }
    /// Makes a batch of changes durable, as one transaction (group commit).
    func apply(_ changes: [StoreChange]) async throws
    /// What a restarted coordinator needs: every unfinished job, the most recent
    /// `finishedLimit` finished ones, every node, and how many jobs it holds in each state.
    func loadForRestore(finishedLimit: Int) async throws -> RestoredState
    /// Answers a read.
    func answer(_ query: StoreQuery) async throws -> StoreAnswer
    /// Drops prompts and outputs of jobs finished before `cutoff`; returns how many.
    func pruneOutputs(finishedBefore cutoff: Timestamp) async throws -> Int
    /// Drops the history's minutes before `cutoff`; returns how many rows.
    func pruneHistory(before cutoff: Timestamp) async throws -> Int
}
