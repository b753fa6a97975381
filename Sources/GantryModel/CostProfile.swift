/// What a host costs to own or rent. Integer micro-dollars and milliwatts keep sums exact.
public struct CostProfile: Hashable, Sendable, Codable {
    public enum Kind: String, Sendable, Codable { case owned, cloud }

    public var kind: Kind
    public var purchaseMicroUSD: Int64
    public var residualMicroUSD: Int64
    public var lifetimeSeconds: Int64
    public var overheadMicroUSDPerHour: Int64
    public var electricityMicroUSDPerKWh: Int64
    /// Power usage effectiveness × 1000.
    public var pueMilli: Int64
    public var idleMilliwatts: Int64
    public var busyMilliwatts: Int64
    public var cloudMicroUSDPerHour: Int64

    public init(
        kind: Kind = .owned, purchaseMicroUSD: Int64 = 0, residualMicroUSD: Int64 = 0,
        lifetimeSeconds: Int64 = 0, overheadMicroUSDPerHour: Int64 = 0,
        electricityMicroUSDPerKWh: Int64 = 0, pueMilli: Int64 = 1000, idleMilliwatts: Int64 = 0,
        busyMilliwatts: Int64 = 0, cloudMicroUSDPerHour: Int64 = 0
    ) {
        self.kind = kind
        self.purchaseMicroUSD = purchaseMicroUSD
        self.residualMicroUSD = residualMicroUSD
        self.lifetimeSeconds = lifetimeSeconds
        self.overheadMicroUSDPerHour = overheadMicroUSDPerHour
        self.electricityMicroUSDPerKWh = electricityMicroUSDPerKWh
        self.pueMilli = pueMilli
        self.idleMilliwatts = idleMilliwatts
        self.busyMilliwatts = busyMilliwatts
        self.cloudMicroUSDPerHour = cloudMicroUSDPerHour
    }

    /// A profile that costs nothing (an agent without a `[cost]` table).
    public static let free = CostProfile()
}
