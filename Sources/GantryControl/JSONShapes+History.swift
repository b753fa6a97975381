public import GantryModel

/// The dashboard API's history: the report's row shape, with spend by component and
/// attempts by outcome.
extension HistoryRow {
    public var json: JSONValue {
        guard case .object(var pairs) = report.json else { return report.json }
        pairs += [
            ("depreciation_usd", .dollars(depreciationMicroUSD)),
            ("energy_usd", .dollars(energyMicroUSD)),
            ("overhead_usd", .dollars(overheadMicroUSD)),
            ("jobs_succeeded", .int(succeeded)),
            ("jobs_failed", .int(failed)),
            ("jobs_cancelled", .int(cancelled)),
        ]
        return .object(pairs)
    }
}

extension History {
    public var json: JSONValue {
        .object([
            ("by", .string(query.by.rawValue)),
            ("from", .time(query.from)),
            ("to", .time(query.to)),
            ("step_seconds", .int(query.stepMinutes * 60)),
            ("key", .optional(query.key)),
            ("series", .array(series.map { s in
                .object([
                    ("key", .string(s.key)),
                    ("points", .array(s.points.map { p in
                        guard case .object(let pairs) = p.row.json else { return p.row.json }
                        return .object([("t", .time(p.start))] + pairs)
                    })),
                ])
            })),
            ("totals", .array(totals.map(\.json))),
            ("total", total.json),
        ])
    }
}
