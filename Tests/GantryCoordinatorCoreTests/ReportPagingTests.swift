import GantryModel
import Testing

@Suite("Report pages: rows by key, a page at a time, the total on every page")
struct ReportPagingTests {
    static func report(_ n: Int) -> Report {
        let rows = (0..<n).map { ReportRow(key: String(format: "tenant-%05d", $0), attempts: 1, spendMicroUSD: 10) }
        var total = ReportRow(key: "total")
        for r in rows { total.add(r) }
        return Report(by: .tenant, from: Timestamp(unixMillis: 0), to: Timestamp(unixMillis: 1000), rows: rows, total: total)
    }

    @Test("following next visits every row once, in key order; each page carries the total", arguments: [0, 1, 999, 1000, 1001, 2500])
    func follow(_ n: Int) {
        let full = Self.report(n)
        var seen: [String] = []
        var page = full.page(after: nil, limit: 0)
        var pages = 1
        while true {
            #expect(page.total == full.total)
            #expect(page.rows.count <= Paging.maxItems)
            seen += page.rows.map(\.key)
            guard let next = page.next else { break }
            page = full.page(after: next, limit: 0)
            pages += 1
        }
        #expect(seen == full.rows.map(\.key))
        #expect(pages == max(1, (n + Paging.maxItems - 1) / Paging.maxItems))
    }

    @Test("a limit smaller than the page is honoured; the last page has no next")
    func limit() {
        let full = Self.report(5)
        let first = full.page(after: nil, limit: 2)
        #expect(first.rows.map(\.key) == ["tenant-00000", "tenant-00001"] && first.next == "tenant-00001")
        let last = full.page(after: "tenant-00003", limit: 2)
        #expect(last.rows.map(\.key) == ["tenant-00004"] && last.next == nil)
        #expect(full.page(after: "zzz", limit: 0).rows.isEmpty)
    }

    @Test("withLaterPages joins every page, asking over the first page's window")
    func join() async throws {
        let full = Self.report(2500)
        var asked: [ReportQuery] = []
        let joined = try await full.page(after: nil, limit: 0).withLaterPages { q in
            asked.append(q)
            return full.page(after: q.after, limit: q.limit)
        }
        #expect(joined.rows == full.rows && joined.next == nil && joined.total == full.total)
        #expect(asked.count == 2 && asked.allSatisfy { $0.from == full.from && $0.to == full.to && $0.by == .tenant })
    }
}
