public import GantryModel
import HeapModule

/// The queue of jobs waiting for a slot.
///
/// - Strict priority: a higher priority always goes first.
/// - Within a priority, tenants take turns (start-time fair queueing): each job gets a
///   virtual start time one past its tenant's previous job, or past the priority's
///   current virtual time if the tenant had nothing waiting. So a tenant with 100k jobs
///   queued cannot starve another tenant's single job, and an idle tenant cannot bank
///   credit.
/// - FIFO within a tenant.
///
/// Jobs are kept in one heap per *shape* (model + constraints). A shape that cannot be
/// placed right now is skipped as a whole, so one blocked model never holds up others.
/// Removal (cancel) is lazy: the entry is dropped when it reaches the top.
public struct JobQueue: Sendable {
    public struct Shape: Hashable, Sendable, CustomStringConvertible {
        public var model: String
        /// Sorted `key=value` pairs.
        public var constraints: [String]

        public init(model: String, constraints: Labels) {
            self.model = model
            self.constraints = constraints.map { "\($0.key)=\($0.value)" }.sorted()
        }

        public var description: String {
            constraints.isEmpty ? model : "\(model) [\(constraints.joined(separator: ","))]"
        }
    }

    struct Entry: Comparable, Sendable {
        var priority: Int
        var vtime: UInt64
        var seq: UInt64
        var job: JobID

        static func < (a: Entry, b: Entry) -> Bool {
            if a.priority != b.priority { return a.priority > b.priority }
            if a.vtime != b.vtime { return a.vtime < b.vtime }
            return a.seq < b.seq
        }
    }

    private var shapes: [Shape: Heap<Entry>] = [:]
    /// Live entries: a job's shape and the sequence number of its current heap entry.
    private var live: [JobID: (shape: Shape, seq: UInt64)] = [:]
    /// Per priority: the virtual time of the last job taken, and each tenant's last start.
    private var virtualTime: [Int: UInt64] = [:]
    private var tenantTime: [Int: [String: UInt64]] = [:]
    private var seq: UInt64 = 0

    public init() {}

    /// Jobs waiting (cancelled ones excluded).
    public var count: Int { live.count }
    public var isEmpty: Bool { live.isEmpty }
    public func contains(_ job: JobID) -> Bool { live[job] != nil }
    public var shapeCount: Int { shapes.count }

    /// Room for `count` waiting jobs without growing (a restart).
    public mutating func reserveCapacity(_ count: Int) {
        live.reserveCapacity(count)
    }

    /// Adds a job. `retry` puts it at the front of its priority (it already waited its
    /// turn once), without advancing its tenant's virtual time.
    public mutating func push(_ job: JobID, spec: JobSpec, retry: Bool = false) {
        // One lookup in `live` (a million entries after a restart), not two.
        let shape = Shape(model: spec.model, constraints: spec.constraints)
        if let already = live.updateValue((shape, seq + 1), forKey: job) {
            live[job] = already
            return
        }
        let p = spec.priority
        let v = virtualTime[p, default: 0]
        let start: UInt64
        if retry {
            start = v
        } else {
            let t = max(tenantTime[p]?[spec.tenant] ?? 0, v) + 1
            tenantTime[p, default: [:]][spec.tenant] = t
            start = t
        }
        seq += 1
        shapes[shape, default: Heap()].insert(Entry(priority: p, vtime: start, seq: seq, job: job))
    }

    /// Removes a waiting job; false if it was not queued.
    @discardableResult
    public mutating func remove(_ job: JobID) -> Bool {
        live.removeValue(forKey: job) != nil
    }

    /// The job that should run next, among shapes not in `skipping`.
    public mutating func peek(skipping: Set<Shape> = []) -> (job: JobID, shape: Shape)? {
        var best: (entry: Entry, shape: Shape)?
        for shape in Array(shapes.keys) where !skipping.contains(shape) {
            guard let top = top(of: shape) else { continue }
            if best == nil || top < best!.entry { best = (top, shape) }
        }
        return best.map { ($0.entry.job, $0.shape) }
    }

    /// Takes the job `peek` returned.
    public mutating func pop(_ job: JobID) {
        guard let shape = live[job]?.shape, let top = top(of: shape), top.job == job else { return }
        shapes[shape]!.removeMin()
        if shapes[shape]!.isEmpty { shapes[shape] = nil }
        live[job] = nil
        virtualTime[top.priority] = max(virtualTime[top.priority, default: 0], top.vtime)
    }

    /// All waiting jobs in the order they would run if every shape could be placed.
    public func ordered() -> [JobID] {
        var all: [Entry] = []
        for heap in shapes.values { all.append(contentsOf: heap.unordered.filter { live[$0.job]?.seq == $0.seq }) }
        return all.sorted().map(\.job)
    }

    /// The top live entry of a shape, dropping lazily removed ones.
    private mutating func top(of shape: Shape) -> Entry? {
        while let min = shapes[shape]?.min {
            if live[min.job]?.seq == min.seq { return min }
            shapes[shape]!.removeMin()
            if shapes[shape]!.isEmpty { shapes[shape] = nil }
        }
        return nil
    }
}
