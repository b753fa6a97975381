public import GantryModel

/// What an attempt was charged for holding a slot: its share of each interval's time-based
/// cost, in proportion to slot-time.
public struct SlotCharge: Hashable, Sendable {
    public var slotMs: Int64 = 0
    /// Its share of the node's busy wall time, in microseconds (shares of one node add up
    /// to the node's busy time exactly).
    public var busyMicros: Int64 = 0
    public var depreciationMicroUSD: Int64 = 0
    public var overheadMicroUSD: Int64 = 0

    public init() {}
}

/// Cost accrued while no slot on a node was held: charged to the node, not to jobs.
public struct IdleAccrual: Hashable, Sendable {
    public var node: NodeID
    public var pool: String
    public var from: Timestamp
    public var to: Timestamp
    public var idleMs: Int64 = 0
    public var energyMillijoules: Int64 = 0
    public var energyMeasured: Bool = false
    public var depreciationMicroUSD: Int64 = 0
    public var energyMicroUSD: Int64 = 0
    public var overheadMicroUSD: Int64 = 0
    /// Tokens the node's engines generated that no receipt accounts for (someone else
    /// used them), by their own counters (engine telemetry).
    public var outsideTokens: Int64 = 0

    public init(node: NodeID, pool: String, from: Timestamp, to: Timestamp) {
        self.node = node
        self.pool = pool
        self.from = from
        self.to = to
    }

    public var totalMicroUSD: Int64 { depreciationMicroUSD + energyMicroUSD + overheadMicroUSD }
    public var isEmpty: Bool { idleMs == 0 && energyMillijoules == 0 && totalMicroUSD == 0 && outsideTokens == 0 }
}

/// A node's costs over time, on the coordinator: each interval's depreciation and
/// overhead go to the attempts holding slots then, equally (each holds one slot), or to
/// idle when none did. Energy (from the agent) is priced with the same exact accrual, so
/// for any period the receipts plus the idle accruals equal the node's spend exactly.
public struct NodeCostMeter: Sendable {
    public let node: NodeID
    public private(set) var rates: CostRates
    public var pool: String
    var accrual = CostAccrual()
    var lastAt: Timestamp
    var holders: [AttemptRef] = []
    var charges: [AttemptRef: SlotCharge] = [:]
    var busyRemainder = 0
    var idle: IdleAccrual

    public init(node: NodeID, pool: String, rates: CostRates, now: Timestamp) {
        self.node = node
        self.pool = pool
        self.rates = rates
        self.lastAt = now
        self.idle = IdleAccrual(node: node, pool: pool, from: now, to: now)
    }

    public var holding: Int { holders.count }

    /// Closes the interval since the last event at `now`.
    public mutating func advance(to now: Timestamp) {
        let ms = max(0, now - lastAt)
        lastAt = max(lastAt, now)
        guard ms > 0 else { return }
        let (d, o) = accrual.time(ms, rates: rates)
        guard !holders.isEmpty else {
            idle.idleMs += ms
            idle.depreciationMicroUSD += d
            idle.overheadMicroUSD += o
            idle.to = now
            return
        }
        let k = Int64(holders.count)
        let us = ms * 1000
        for (i, ref) in holders.enumerated() {
            let n = Int64(i)
            charges[ref]!.slotMs += ms
            charges[ref]!.busyMicros += us / k + (n < us % k ? 1 : 0)
            charges[ref]!.depreciationMicroUSD += d / k + (n < d % k ? 1 : 0)
            charges[ref]!.overheadMicroUSD += o / k + (n < o % k ? 1 : 0)
        }
    }

    /// An attempt took a slot.
    public mutating func hold(_ ref: AttemptRef, now: Timestamp) {
        advance(to: now)
        guard charges[ref] == nil else { return }
        holders.append(ref)
        charges[ref] = SlotCharge()
    }

    /// An attempt gave its slot back; returns what it was charged (nil if it held none).
    public mutating func release(_ ref: AttemptRef, now: Timestamp) -> SlotCharge? {
        advance(to: now)
        holders.removeAll { $0 == ref }
        return charges.removeValue(forKey: ref)
    }

    /// The price of `millijoules` at this node (energy × PUE × tariff), from the same
    /// exact accrual as everything else on the node.
    public mutating func price(millijoules: Int64) -> Int64 {
        accrual.energy(millijoules, rates: rates)
    }

    /// Energy the agent measured (or estimated) while no slot was held.
    public mutating func addIdleEnergy(_ millijoules: Int64, measured: Bool) {
        guard millijoules > 0 else { return }
        idle.energyMillijoules += millijoules
        idle.energyMicroUSD += price(millijoules: millijoules)
        idle.energyMeasured = measured
    }

    /// A slot charge with no result to bill (the attempt was lost): the node bears it.
    public mutating func addToIdle(_ charge: SlotCharge) {
        idle.idleMs += charge.busyMicros / 1000
        idle.depreciationMicroUSD += charge.depreciationMicroUSD
        idle.overheadMicroUSD += charge.overheadMicroUSD
    }

    /// Takes the idle cost accrued so far (to store it), starting a new accrual at `now`.
    public mutating func takeIdle(now: Timestamp) -> IdleAccrual? {
        advance(to: now)
        let taken = idle
        idle = IdleAccrual(node: node, pool: pool, from: now, to: now)
        return taken.isEmpty ? nil : taken
    }

    /// A new profile from now on.
    public mutating func setRates(_ rates: CostRates, now: Timestamp) {
        advance(to: now)
        self.rates = rates
    }
}
