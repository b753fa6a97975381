import GantryModel
import GantryPlacement

/// A job plus what the coordinator keeps beside it.
///
/// A value, stored out of line in one copy-on-write box: the jobs table holds a pointer
/// per job, so when it grows (a million queued jobs at a restart, a busy hour's finished
/// ones) it moves and zeroes pointers, not records of some 300 bytes each, and a record
/// changed in place in the table (`jobs[id]?.job.state = …`) is never copied.
struct JobRecord: Sendable {
    /// How the current attempt was placed, or why no node was found; out of line (a queued
    /// job that was never tried has none of it).
    struct Placement: Hashable, Sendable {
        var candidates = PlacementRanking()
        var at: Timestamp?
        var lastMiss: String?
    }

    /// The fields; changed only through a record that holds the one reference to it (see
    /// `unique()`), which is what makes it safe to send.
    private final class Storage: @unchecked Sendable {
        var job: Job
        var placement: Boxed<Placement>?
        var unsentOutput = ""
        var outputReset = false
        var storedAttempts: Int32 = -1

        init(_ job: Job) { self.job = job }

        init(copying other: Storage) {
            job = other.job
            placement = other.placement
            unsentOutput = other.unsentOutput
            outputReset = other.outputReset
            storedAttempts = other.storedAttempts
        }
    }

    private var storage: Storage

    init(_ job: Job) { storage = Storage(job) }

    private init(storage: Storage) { self.storage = storage }

    /// What a table slot holds while its record is out (`take()`): one box for all, never
    /// changed (a change would copy it first).
    private static let standIn = Storage(Job(id: JobID(rawValue: 0), spec: JobSpec(model: "", prompt: ""), submittedAt: Timestamp(unixMillis: 0)))

    /// Moves the record out of where it is (a slot of the jobs table), leaving a stand-in:
    /// changed outside the table, it is then its box's only holder, so nothing is copied.
    /// The caller puts it back before the slot is read again.
    mutating func take() -> JobRecord {
        let taken = self
        self = JobRecord(storage: Self.standIn)
        return taken
    }

    /// The current (last) attempt, read without copying the job.
    var currentAttempt: Attempt? { storage.job.attempts.last }

    /// The box, made this record's own before a change.
    private mutating func unique() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(copying: storage) }
        return storage
    }

    var job: Job {
        _read { yield storage.job }
        _modify { yield &unique().job }
    }

    var placement: Boxed<Placement>? {
        _read { yield storage.placement }
        _modify { yield &unique().placement }
    }

    /// The verdicts of the decision that placed the current attempt (set by `place`).
    var placedCandidates: PlacementRanking { placement.unboxed(or: Placement()).candidates }
    var placedAt: Timestamp? { placement.unboxed(or: Placement()).at }
    /// Why the last placement try found no node.
    var lastMiss: String? {
        get { placement.unboxed(or: Placement()).lastMiss }
        set { placement.update(empty: Placement()) { $0.lastMiss = newValue } }
    }

    /// Output watchers have not been sent yet (a result's text past the last progress), and
    /// whether their next event must tell them to start over (a retry, or a result whose
    /// text does not continue what was streamed).
    var unsentOutput: String {
        _read { yield storage.unsentOutput }
        _modify { yield &unique().unsentOutput }
    }
    var outputReset: Bool {
        get { storage.outputReset }
        set { unique().outputReset = newValue }
    }

    /// How many of the job's attempts the store was handed, or -1 while the job itself
    /// was not (a new submit): its next write is then the whole job, else an update.
    var storedAttempts: Int32 {
        get { storage.storedAttempts }
        set { unique().storedAttempts = newValue }
    }

    /// A new attempt, placed by the decision that ranked `ranking`.
    mutating func place(_ attempt: Attempt, ranking: PlacementRanking, at now: Timestamp) {
        job.attempts.append(attempt)
        placement.update(empty: Placement()) { $0 = Placement(candidates: ranking, at: now, lastMiss: nil) }
    }

    /// The current attempt's start (assigned → running), or false when it is not assigned;
    /// the job's state is the caller's (`setState`).
    mutating func startAttempt(now: Timestamp) -> Bool {
        let i = job.attempts.count - 1
        guard i >= 0, job.attempts[i].state == .assigned else { return false }
        job.attempts[i].state = .running
        job.attempts[i].startedAt = now
        if job.startedAt == nil { job.startedAt = now }
        return true
    }
}
