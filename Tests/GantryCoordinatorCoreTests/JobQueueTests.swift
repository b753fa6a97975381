import GantryCoordinatorCore
import GantryModel
import Testing

@Suite("Job queue")
struct JobQueueTests {
    final class IDs: @unchecked Sendable {
        var generator = JobIDGenerator()
        func next() -> JobID { generator.next(now: Timestamp(unixMillis: 1_000_000)) }
    }

    let ids = IDs()
    func id() -> JobID { ids.next() }

    static func spec(_ tenant: String, priority: Int = 0, model: String = "m") -> JobSpec {
        JobSpec(model: model, prompt: "p", priority: priority, tenant: tenant)
    }

    func drain(_ q: inout JobQueue, skipping: Set<JobQueue.Shape> = []) -> [JobID] {
        var out: [JobID] = []
        while let (job, _) = q.peek(skipping: skipping) {
            q.pop(job)
            out.append(job)
        }
        return out
    }

    @Test("strict priority, FIFO within a tenant")
    func priority() {
        var q = JobQueue()
        let low1 = id(), high = id(), low2 = id()
        q.push(low1, spec: Self.spec("a", priority: 0))
        q.push(high, spec: Self.spec("a", priority: 5))
        q.push(low2, spec: Self.spec("a", priority: 0))
        #expect(drain(&q) == [high, low1, low2])
    }

    @Test("a tenant's single job is not starved by another's 100k batch")
    func fairness() {
        var q = JobQueue()
        var batch: [JobID] = []
        for _ in 0..<100_000 {
            let j = id()
            batch.append(j)
            q.push(j, spec: Self.spec("big"))
        }
        // Half the batch runs…
        for _ in 0..<50_000 {
            let (j, _) = q.peek()!
            q.pop(j)
        }
        // …then a second tenant submits one job: it runs next, not after 50k more.
        let single = id()
        q.push(single, spec: Self.spec("small"))
        var position = 0
        while let (j, _) = q.peek() {
            q.pop(j)
            position += 1
            if j == single { break }
        }
        #expect(position <= 2)
        #expect(q.count == 50_000 - (position - 1))
    }

    @Test("tenants take turns within a priority")
    func roundRobin() {
        var q = JobQueue()
        var a: [JobID] = [], b: [JobID] = [], c: [JobID] = []
        for _ in 0..<3 { a.append(id()); q.push(a.last!, spec: Self.spec("a")) }
        for _ in 0..<3 { b.append(id()); q.push(b.last!, spec: Self.spec("b")) }
        c.append(id()); q.push(c[0], spec: Self.spec("c"))
        #expect(drain(&q) == [a[0], b[0], c[0], a[1], b[1], a[2], b[2]])
    }

    @Test("an idle tenant banks no credit")
    func noBanking() {
        var q = JobQueue()
        for _ in 0..<10 { q.push(id(), spec: Self.spec("a")) }
        for _ in 0..<8 { q.pop(q.peek()!.job) }
        // b arrives late with 5 jobs: they interleave with a's remaining 2, not all ahead.
        var b: [JobID] = []
        for _ in 0..<5 { b.append(id()); q.push(b.last!, spec: Self.spec("b")) }
        let order = drain(&q)
        #expect(order.count == 7)
        #expect(Array(order.prefix(4)).filter { b.contains($0) }.count == 2)
    }

    @Test("a blocked shape is skipped without holding up others")
    func skipping() {
        var q = JobQueue()
        let blocked = id(), other = id()
        q.push(blocked, spec: Self.spec("a", model: "big"))
        q.push(other, spec: Self.spec("a", model: "small"))
        let bigShape = JobQueue.Shape(model: "big", constraints: [:])
        #expect(q.peek(skipping: [bigShape])?.job == other)
    }

    @Test("removal is lazy but exact; a retried job goes to the front of its priority")
    func removeAndRetry() {
        var q = JobQueue()
        let a = id(), b = id(), c = id()
        for j in [a, b, c] { q.push(j, spec: Self.spec("t")) }
        let removed = q.remove(b)
        let removedAgain = q.remove(b)
        #expect(removed && !removedAgain)
        #expect(q.count == 2)
        q.pop(q.peek()!.job)  // a
        q.push(a, spec: Self.spec("t"), retry: true)
        #expect(drain(&q) == [a, c])
        #expect(q.isEmpty)
    }

    @Test("job ids sort by time, never repeat, and round-trip as text")
    func jobIDs() {
        var g = JobIDGenerator()
        let t = Timestamp(unixMillis: 1_764_000_000_000)
        let a = g.next(now: t), b = g.next(now: t), c = g.next(now: t - 5)
        #expect(a < b && b < c)
        for id in [a, b, c, JobID(rawValue: .max), JobID(rawValue: 0)] {
            #expect(id.description.count == 13)
            #expect(JobID(id.description) == id)
            #expect(JobID(id.description.uppercased()) == id)
        }
        // Every digit, both ways, against the alphabet spelt out.
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
        for d in 0..<32 {
            let id = JobID(rawValue: UInt64(d) << 5 | UInt64(31 - d))
            let text = "00000000000" + String(alphabet[d]) + String(alphabet[31 - d])
            #expect(id.description == text)
            #expect(JobID(text) == id)
        }
        #expect(JobID("0000000000O1L") == JobID(rawValue: 1 << 5 | 1))
        #expect(JobID("0000000000I0u") == nil)  // u is not a digit
        #expect(JobID("000000000000") == nil)
        #expect(JobID("00000000000000") == nil)
        #expect(JobID("not-a-job-id!") == nil)
        #expect(JobID("zzzzzzzzzzzzz") == nil)  // 65 bits
    }
}
