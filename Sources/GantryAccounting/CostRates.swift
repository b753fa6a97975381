public import GantryModel

/// Exact integer arithmetic for money and energy: `a × b / c` without overflow, with the
/// remainder kept so that repeated accruals never lose a fraction.
struct ExactAccrual: Hashable, Sendable {
    /// The part of one unit not yet paid out, as a numerator over the divisor.
    private(set) var remainder: Int64 = 0

    /// Adds `a × b / divisor` and returns the whole units; the fraction carries over.
    mutating func add(_ a: Int64, times b: Int64, over divisor: Int64) -> Int64 {
        guard divisor > 0, a != 0, b != 0 else { return 0 }
        let product = a.multipliedFullWidth(by: b)
        // (high, low) + remainder, then divide.
        let (low, carry) = product.low.addingReportingOverflow(UInt64(bitPattern: remainder))
        let high = product.high + (carry ? 1 : 0)
        let (quotient, rest) = divisor.dividingFullWidth((high: high, low: low))
        remainder = rest
        return quotient
    }
}

/// What a node costs per unit of time and energy, from its profile.
public struct CostRates: Hashable, Sendable {
    public var profile: CostProfile

    public init(_ profile: CostProfile) { self.profile = profile }

    /// Depreciation per hour, straight line: (purchase − residual) / lifetime.
    public var depreciationMicroUSDPerHour: Int64 {
        guard profile.kind == .owned, profile.lifetimeSeconds > 0 else { return 0 }
        return (profile.purchaseMicroUSD - profile.residualMicroUSD) * 3600 / profile.lifetimeSeconds
    }

    /// Overhead per hour: colo, network and support for owned hosts; the rental price for
    /// cloud hosts (whose energy is included in that price).
    public var overheadMicroUSDPerHour: Int64 {
        profile.kind == .cloud ? profile.cloudMicroUSDPerHour : profile.overheadMicroUSDPerHour
    }

    /// The fixed cost per hour, energy excluded.
    public var fixedMicroUSDPerHour: Int64 { depreciationMicroUSDPerHour + overheadMicroUSDPerHour }

    /// Energy is billed for owned hosts only: energy × PUE × tariff.
    public var billsEnergy: Bool { profile.kind == .owned && profile.electricityMicroUSDPerKWh > 0 }

    /// The estimated $/h at a given busy fraction, for display: fixed cost plus estimated
    /// power (idle..busy watts) × PUE × tariff.
    public func estimatedMicroUSDPerHour(busyFraction: Double) -> Int64 {
        guard billsEnergy else { return fixedMicroUSDPerHour }
        let mw = Double(profile.idleMilliwatts) + Double(profile.busyMilliwatts - profile.idleMilliwatts) * min(max(busyFraction, 0), 1)
        let kwhPerHour = mw / 1_000_000
        let energy = kwhPerHour * Double(profile.pueMilli) / 1000 * Double(profile.electricityMicroUSDPerKWh)
        return fixedMicroUSDPerHour + Int64(energy.rounded())
    }
}

/// Accrues a node's cost exactly over time and energy.
struct CostAccrual: Hashable, Sendable {
    var depreciation = ExactAccrual()
    var overhead = ExactAccrual()
    var energy = ExactAccrual()

    /// Depreciation and overhead for `ms` milliseconds.
    mutating func time(_ ms: Int64, rates: CostRates) -> (depreciation: Int64, overhead: Int64) {
        let p = rates.profile
        var d: Int64 = 0
        if p.kind == .owned, p.lifetimeSeconds > 0 {
            d = depreciation.add(p.purchaseMicroUSD - p.residualMicroUSD, times: ms, over: p.lifetimeSeconds * 1000)
        }
        let o = overhead.add(rates.overheadMicroUSDPerHour, times: ms, over: 3_600_000)
        return (d, o)
    }

    /// The cost of `millijoules` at the wall: energy × PUE × tariff.
    /// µ$ = mJ × (PUE×1000) × (µ$/kWh) / (1000 mJ/J × 1000 × 3.6e6 J/kWh)
    mutating func energy(_ millijoules: Int64, rates: CostRates) -> Int64 {
        guard rates.billsEnergy else { return 0 }
        let p = rates.profile
        return energy.add(millijoules, times: p.pueMilli * p.electricityMicroUSDPerKWh, over: 3_600_000_000_000)
    }
}
