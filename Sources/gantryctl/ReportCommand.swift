import ArgumentParser
import GantryCLI
import GantryControl
import GantryModel

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Cost, energy and throughput by node, pool, model or tenant.",
        discussion: """
            Spend is the receipts of attempts that ended in the window plus the idle cost of nodes in it; \
            $/Mtok is on the allocation basis (all spend / tokens) and the usage basis (busy spend / tokens). \
            Tokens are prompt plus completion tokens.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "node, pool, model or tenant.") var by: String = "node"
    @Option(help: "A window ending now, e.g. 1h, 30m, 7d.") var since: String?
    @Option(help: "Window start, RFC 3339 (e.g. 2026-11-29T08:00:00Z).") var from: String?
    @Option(help: "Window end, RFC 3339.") var to: String?

    func run() async throws {
        guard let groupBy = ReportQuery.GroupBy(rawValue: by) else {
            throw ValidationError("--by '\(by)' is not one of node, pool, model, tenant")
        }
        if since != nil && (from != nil || to != nil) { throw ValidationError("give --since, or --from and --to, not both") }
        var query = ReportQuery(by: groupBy)
        if let since {
            guard let ms = parseDurationMillis(since) else { throw ValidationError("--since '\(since)' is not a duration (e.g. 30m, 1h, 7d)") }
            query.from = nowTimestamp() - ms
        }
        if let from {
            guard let t = Timestamp(rfc3339: from) else { throw ValidationError("--from '\(from)' is not an RFC 3339 time") }
            query.from = t
        }
        if let to {
            guard let t = Timestamp(rfc3339: to) else { throw ValidationError("--to '\(to)' is not an RFC 3339 time") }
            query.to = t
        }
        let first = query
        let report = try await global.withClient { client in
            @Sendable func page(_ q: ReportQuery) async throws -> Report {
                let response = try await client.request(.report(q))
                guard case .report(let r) = response else { throw unexpected(response) }
                return r
            }
            return try await page(first).withLaterPages(page)
        }
        global.emit(json: report.json, table: report.table)
    }
}

extension Report {
    var table: Table {
        // Nodes and pools also show the tokens their engines made for other clients.
        let outside = by == .node || by == .pool
        return Table(
            headers: [by.rawValue.uppercased(), "TOKENS", "BUSY_S", "IDLE_S", "UTIL", "SPEND_$", "IDLE_$", "$/MTOK_ALLOC", "$/MTOK_USAGE", "J/TOK", "TOK/S", "ENERGY"]
                + (outside ? ["OUTSIDE_TOK"] : []),
            rows: (rows + [total]).map { r in
                [
                    r.key, "\(r.tokens)", fixed(Double(r.busyMs) / 1000, 1), fixed(Double(r.idleMs) / 1000, 1),
                    fixed(r.utilization * 100, 0) + "%", fixed(Double(r.spendMicroUSD) / 1e6, 6), fixed(Double(r.idleMicroUSD) / 1e6, 6),
                    fixed(r.usdPerMTokAllocation, 2), fixed(r.usdPerMTokUsage, 2), fixed(r.joulesPerToken, 3),
                    fixed(r.tokensPerSecond, 1), r.energyMillijoules == 0 ? "-" : (r.energyMeasured ? "measured" : "estimated"),
                ] + (outside ? ["\(r.outsideTokens)"] : [])
            })
    }
}
