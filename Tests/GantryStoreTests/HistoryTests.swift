import GantryAccounting
import GantryModel
import GantryPersistence
import GantryStore
import GantryTestSupport
import Testing

/// The dashboard's per-minute rollups, on both backends: written with the records they sum,
/// bucketed by the minute a record ended in, equal to `report` over whole minutes.
@Suite("History: per-minute rollups", .serialized)
struct HistoryTests {
    static let minute: Int64 = 60_000

    static func entry(_ job: UInt64, finishedAt: Int64, node: String = "a", pool: String = "p", model: String = "m", tenant: String = "x",
                      outcome: Outcome = .succeeded, spend: Int64 = 100, measured: Bool = true) -> LedgerEntry {
        LedgerEntry(
            job: JobID(rawValue: job), attempt: 1, node: NodeID(node)!, engine: "e", model: model, tenant: tenant, outcome: outcome,
            promptTokens: 2, completionTokens: 10, tokensEstimated: false, startedAt: Timestamp(unixMillis: max(0, finishedAt - 500)),
            finishedAt: Timestamp(unixMillis: finishedAt), pool: pool, receipt: Receipt(
                promptTokens: 2, completionTokens: 10, wallMs: 500, slotMs: 500, busyMicros: 500_000, energyMillijoules: 70,
                energyMeasured: measured, depreciationMicroUSD: spend, energyMicroUSD: 7, overheadMicroUSD: 3))
    }

    static func idle(node: String = "a", pool: String = "p", from: Int64, to: Int64, spend: Int64 = 40) -> IdleAccrual {
        var i = IdleAccrual(node: NodeID(node)!, pool: pool, from: Timestamp(unixMillis: from), to: Timestamp(unixMillis: to))
        i.idleMs = to - from
        i.depreciationMicroUSD = spend
        i.energyMillijoules = 20
        i.energyMeasured = true
        return i
    }

    static func history(_ store: any CoordinatorStore, by: ReportQuery.GroupBy = .pool, from: Int64, to: Int64, step: Int64 = 1,
                        key: String? = nil) async throws -> History {
        let q = HistoryQuery(by: by, from: Timestamp(unixMillis: from), to: Timestamp(unixMillis: to), stepMinutes: step, key: key)
        guard case .history(let h) = try await store.answer(.history(q)) else { throw HistoryTestFailure("no history") }
        return h
    }

    static func report(_ store: any CoordinatorStore, by: ReportQuery.GroupBy = .pool, from: Int64, to: Int64) async throws -> Report {
        guard case .report(let r) = try await store.answer(.report(by: by, from: Timestamp(unixMillis: from), to: Timestamp(unixMillis: to)))
        else { throw HistoryTestFailure("no report") }
        return r
    }

    @Test("a record belongs to the minute it ended in: 59.999 s and 60.000 s fall in different minutes", arguments: Backend.available)
    func minuteBoundaries(_ backend: Backend) async throws {
        try await backend.withStore { store in
            try await store.apply([.ledger(Self.entry(1, finishedAt: Self.minute - 1)), .ledger(Self.entry(2, finishedAt: Self.minute))])
            let first = try await Self.history(store, from: 0, to: Self.minute)
            #expect(first.total.report.attempts == 1)
            let both = try await Self.history(store, from: 0, to: 2 * Self.minute)
            #expect(both.series.map(\.key) == ["p"])
            #expect(both.series[0].points.map(\.start.unixMillis) == [0, Self.minute])
            #expect(both.series[0].points.map(\.row.report.attempts) == [1, 1])
            let bucketed = try await Self.history(store, from: 0, to: 2 * Self.minute, step: 2)
            #expect(bucketed.series[0].points.count == 1 && bucketed.series[0].points[0].row.report.attempts == 2)
            #expect(bucketed.total.report.spendMicroUSD == 2 * 110)
            #expect(bucketed.total.depreciationMicroUSD == 200 && bucketed.total.energyMicroUSD == 14 && bucketed.total.overheadMicroUSD == 6)
        }
    }

    @Test("over whole minutes the history's totals are the report's, grouped any way; idle cost is '(idle)' by model and tenant",
          arguments: Backend.available)
    func equalsReport(_ backend: Backend) async throws {
        try await backend.withStore { store in
            var changes: [StoreChange] = []
            for i in 0..<60 {
                let t = Int64(i) * 9_777 + 1_234
                changes.append(.ledger(Self.entry(
                    UInt64(i + 1), finishedAt: t, node: i % 3 == 0 ? "a" : "b", pool: i % 3 == 0 ? "p" : "q", model: i % 2 == 0 ? "m" : "n",
                    tenant: ["x", "y", "z"][i % 3], outcome: [.succeeded, .failed, .cancelled][i % 3 == 2 ? 2 : i % 5 == 0 ? 1 : 0],
                    spend: Int64(100 + i), measured: i != 7)))
            }
            for k in 0..<10 { changes.append(.idle(Self.idle(node: k % 2 == 0 ? "a" : "b", pool: k % 2 == 0 ? "p" : "q",
                                                             from: Int64(k) * 50_000, to: Int64(k + 1) * 50_000 + 3, spend: Int64(40 + k)))) }
            try await store.apply(changes)
            for by in ReportQuery.GroupBy.allCases {
                for (from, to) in [(0, 10), (2, 5), (3, 4), (0, 1)] {
                    let h = try await Self.history(store, by: by, from: Int64(from) * Self.minute, to: Int64(to) * Self.minute, step: 2)
                    let r = try await Self.report(store, by: by, from: Int64(from) * Self.minute, to: Int64(to) * Self.minute)
                    #expect(h.total.report.spendMicroUSD == r.total.spendMicroUSD, "\(by) \(from)–\(to)")
                    #expect(h.total.report.idleMicroUSD == r.total.idleMicroUSD)
                    #expect(h.total.report.tokens == r.total.tokens && h.total.report.attempts == r.total.attempts)
                    #expect(h.total.report.idleMs == r.total.idleMs && h.total.report.energyMillijoules == r.total.energyMillijoules)
                    #expect(h.totals.map(\.report.key) == r.rows.map(\.key))
                    #expect(h.totals.map(\.report.spendMicroUSD) == r.rows.map(\.spendMicroUSD))
                }
            }
            let byTenant = try await Self.history(store, by: .tenant, from: 0, to: 10 * Self.minute)
            #expect(byTenant.totals.map(\.report.key) == ["(idle)", "x", "y", "z"])
            let all = try await Self.history(store, from: 0, to: 10 * Self.minute)
            #expect(all.total.succeeded + all.total.failed + all.total.cancelled == 60)
            #expect(all.total.cancelled == 20 && !all.total.report.energyMeasured)
            let onlyQ = try await Self.history(store, from: 0, to: 10 * Self.minute, key: "q")
            #expect(onlyQ.series.map(\.key) == ["q"])
        }
    }

    @Test("pruning drops the minutes before the cutoff and nothing else; the ledger stays", arguments: Backend.available)
    func retention(_ backend: Backend) async throws {
        try await backend.withStore { store in
            try await store.apply((0..<5).map { .ledger(Self.entry(UInt64($0 + 1), finishedAt: Int64($0) * Self.minute + 5)) })
            #expect(try await store.pruneHistory(before: Timestamp(unixMillis: 3 * Self.minute + 30_000)) == 3)
            let h = try await Self.history(store, from: 0, to: 5 * Self.minute)
            #expect(h.series[0].points.map(\.start.unixMillis) == [3 * Self.minute, 4 * Self.minute])
            #expect(try await Self.report(store, from: 0, to: 5 * Self.minute).total.attempts == 5)
            #expect(try await store.pruneHistory(before: Timestamp(unixMillis: 3 * Self.minute)) == 0)
        }
    }

    @Test("a gantryd restarted in the middle of a minute adds to that minute (SQLite file reopened)")
    func restartMidMinute() async throws {
        let dir = try StateDir()
        do {
            let store = try Store.open(stateDir: dir.path, minFreeBytes: 0)
            try store.apply([.ledger(Self.entry(1, finishedAt: 10 * Self.minute + 10_000)), .idle(Self.idle(from: 0, to: 10 * Self.minute + 20_000))])
        }
        let reopened = try Store.open(stateDir: dir.path, minFreeBytes: 0)
        try reopened.apply([.ledger(Self.entry(2, finishedAt: 10 * Self.minute + 50_000)), .idle(Self.idle(from: 10 * Self.minute + 20_000, to: 10 * Self.minute + 55_000))])
        let h = try await Self.history(reopened, by: .node, from: 10 * Self.minute, to: 11 * Self.minute)
        #expect(h.series.count == 1 && h.series[0].points.count == 1)
        let point = h.series[0].points[0].row
        #expect(point.report.attempts == 2 && point.report.idleMicroUSD == 80 && point.report.idleMs == 10 * Self.minute + 55_000)
        #expect(point.report.spendMicroUSD == 2 * 110 + 80)
        #expect(point.report.spendMicroUSD == (try await Self.report(reopened, by: .node, from: 10 * Self.minute, to: 11 * Self.minute).total.spendMicroUSD))
    }
}

struct HistoryTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
