/// A cost and usage report row; `Report.total` has the same shape.
public struct ReportRow: Hashable, Sendable {
    public var key: String
    public var promptTokens: Int64
    public var completionTokens: Int64
    public var busyMs: Int64
    public var idleMs: Int64
    public var spendMicroUSD: Int64
    public var idleMicroUSD: Int64
    public var energyMillijoules: Int64
    public var energyMeasured: Bool
    public var wallMs: Int64

    public init(
        key: String, promptTokens: Int64 = 0, completionTokens: Int64 = 0, busyMs: Int64 = 0, idleMs: Int64 = 0,
        spendMicroUSD: Int64 = 0, idleMicroUSD: Int64 = 0, energyMillijoules: Int64 = 0, energyMeasured: Bool = false,
        wallMs: Int64 = 0
    ) {
        self.key = key
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.busyMs = busyMs
        self.idleMs = idleMs
        self.spendMicroUSD = spendMicroUSD
        self.idleMicroUSD = idleMicroUSD
        self.energyMillijoules = energyMillijoules
        self.energyMeasured = energyMeasured
        self.wallMs = wallMs
    }

    public var tokens: Int64 { promptTokens + completionTokens }
    public var utilization: Double { busyMs + idleMs == 0 ? 0 : Double(busyMs) / Double(busyMs + idleMs) }
    public var usdPerMTokAllocation: Double { tokens == 0 ? 0 : Double(spendMicroUSD) / Double(tokens) }
    public var usdPerMTokUsage: Double { tokens == 0 ? 0 : Double(spendMicroUSD - idleMicroUSD) / Double(tokens) }
    public var joulesPerToken: Double { tokens == 0 ? 0 : Double(energyMillijoules) / 1000 / Double(tokens) }
    public var tokensPerSecond: Double { wallMs == 0 ? 0 : Double(completionTokens) * 1000 / Double(wallMs) }
}

public struct Report: Hashable, Sendable {
    public var by: ReportQuery.GroupBy
    public var from: Timestamp
    public var to: Timestamp
    public var rows: [ReportRow]
    public var total: ReportRow

    public init(by: ReportQuery.GroupBy, from: Timestamp, to: Timestamp, rows: [ReportRow], total: ReportRow) {
        self.by = by
        self.from = from
        self.to = to
        self.rows = rows
        self.total = total
    }
}
