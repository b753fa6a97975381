import GantryAccounting
import GantryModel
import Testing

@Suite("Cost math, checked by hand")
struct CostMathTests {
    static let t0 = Timestamp(unixMillis: 1_764_000_000_000)
    static let node = NodeID("gpu-07")!
    static func ref(_ n: UInt64) -> AttemptRef { AttemptRef(job: JobID(rawValue: n << 20), attempt: 1) }

    /// The example host of the README's agent configuration.
    static let owned = CostProfile(
        kind: .owned, purchaseMicroUSD: 300_000_000_000, residualMicroUSD: 30_000_000_000, lifetimeSeconds: 4 * 365 * 86_400,
        overheadMicroUSDPerHour: 1_500_000, electricityMicroUSDPerKWh: 90_000, pueMilli: 1300, idleMilliwatts: 900_000,
        busyMilliwatts: 6_500_000)
    /// $3.60/h: one micro-dollar per millisecond.
    static let cloud = CostProfile(kind: .cloud, cloudMicroUSDPerHour: 3_600_000)

    @Test("straight-line depreciation: ($300,000 − $30,000) over 4 years is $7.705479/h")
    func depreciation() {
        #expect(CostRates(Self.owned).depreciationMicroUSDPerHour == 7_705_479)
        var m = NodeCostMeter(node: Self.node, pool: "h200", rates: CostRates(Self.owned), now: Self.t0)
        let idle = m.takeIdle(now: Self.t0 + 3_600_000)!
        // 270e9 µ$ × 3.6e6 ms / 1.26144e11 ms = 7,705,479.45 → 7,705,479 µ$, 0.45 carried
        #expect(idle.depreciationMicroUSD == 7_705_479)
        #expect(idle.overheadMicroUSD == 1_500_000)
        #expect(idle.idleMs == 3_600_000)
        // The carried fraction is not lost: 20 hours give 154,109,589 (not 20 × 7,705,479).
        var m20 = NodeCostMeter(node: Self.node, pool: "h200", rates: CostRates(Self.owned), now: Self.t0)
        var total: Int64 = 0
        for h in 1...20 { total += m20.takeIdle(now: Self.t0 + Int64(h) * 3_600_000)!.depreciationMicroUSD }
        #expect(total == 154_109_589)
    }

    @Test("energy: 6.5 kW for an hour × PUE 1.3 × $0.09/kWh is $0.7605")
    func tariffTimesPUE() {
        var m = NodeCostMeter(node: Self.node, pool: "h200", rates: CostRates(Self.owned), now: Self.t0)
        // 6.5 kW × 3600 s = 23,400,000 J = 23,400,000,000 mJ
        #expect(m.price(millijoules: 23_400_000_000) == 760_500)
        // Cloud prices include energy.
        var c = NodeCostMeter(node: Self.node, pool: "cloud", rates: CostRates(Self.cloud), now: Self.t0)
        #expect(c.price(millijoules: 23_400_000_000) == 0)
    }

    @Test("overhead: $1.50/h for 30 minutes is $0.75; a cloud host's rental is its overhead")
    func overhead() {
        var m = NodeCostMeter(node: Self.node, pool: "h200", rates: CostRates(Self.owned), now: Self.t0)
        #expect(m.takeIdle(now: Self.t0 + 1_800_000)?.overheadMicroUSD == 750_000)
        var c = NodeCostMeter(node: Self.node, pool: "cloud", rates: CostRates(Self.cloud), now: Self.t0)
        let idle = c.takeIdle(now: Self.t0 + 1_000)!
        #expect(idle.overheadMicroUSD == 1_000 && idle.depreciationMicroUSD == 0)
        #expect(CostRates(Self.cloud).fixedMicroUSDPerHour == 3_600_000)
    }

    @Test("slot-second sharing: A holds 0–10 s, B 5–15 s, idle until 20 s, at 1 µ$/ms")
    func slotSharing() {
        var m = NodeCostMeter(node: Self.node, pool: "cloud", rates: CostRates(Self.cloud), now: Self.t0)
        m.hold(Self.ref(1), now: Self.t0)
        m.hold(Self.ref(2), now: Self.t0 + 5_000)
        let a = m.release(Self.ref(1), now: Self.t0 + 10_000)!
        let b = m.release(Self.ref(2), now: Self.t0 + 15_000)!
        let idle = m.takeIdle(now: Self.t0 + 20_000)!
        // A: 5 s alone (5000) + 5 s shared (2500); B: 5 s shared (2500) + 5 s alone (5000).
        #expect(a.overheadMicroUSD == 7_500 && b.overheadMicroUSD == 7_500)
        #expect(a.slotMs == 10_000 && b.slotMs == 10_000)
        #expect(a.busyMicros == 7_500_000 && b.busyMicros == 7_500_000)  // 15 s of busy wall time, shared
        #expect(idle.overheadMicroUSD == 5_000 && idle.idleMs == 5_000)
        #expect(a.overheadMicroUSD + b.overheadMicroUSD + idle.overheadMicroUSD == 20_000)
    }

    @Test("shares of an indivisible amount add up exactly: 10 µ$ over 3 holders is 4 + 3 + 3")
    func remainders() {
        let p = CostProfile(kind: .cloud, cloudMicroUSDPerHour: 36_000)  // 10 µ$ per second
        var m = NodeCostMeter(node: Self.node, pool: "x", rates: CostRates(p), now: Self.t0)
        for n in 1...3 { m.hold(Self.ref(UInt64(n)), now: Self.t0) }
        let charges = (1...3).map { m.release(Self.ref(UInt64($0)), now: Self.t0 + 1_000)! }
        // All three released at t0+1 s: the first release closes the shared second.
        #expect(charges.map(\.overheadMicroUSD).sorted() == [3, 3, 4])
        #expect(charges.reduce(0) { $0 + $1.overheadMicroUSD } == 10)
    }

    @Test("idle energy is priced and charged to the node")
    func idleEnergy() {
        var m = NodeCostMeter(node: Self.node, pool: "h200", rates: CostRates(Self.owned), now: Self.t0)
        m.addIdleEnergy(3_240_000_000, measured: true)  // 900 W for an hour
        let idle = m.takeIdle(now: Self.t0)!
        // 0.9 kWh × 1.3 × $0.09 = $0.1053
        #expect(idle.energyMicroUSD == 105_300)
        #expect(idle.energyMeasured)
    }

    @Test("estimated energy: idle and busy watts by slot occupancy, split by slot")
    func estimatedEnergy() {
        var e = EnergyMeter(slots: 4, idleMilliwatts: 100_000, busyMilliwatts: 400_000, now: Self.t0, counter: nil)
        e.advance(now: Self.t0 + 1_000, counter: nil)  // idle: 100 W × 1 s = 100 J
        e.start(Self.ref(1), now: Self.t0 + 1_000, counter: nil)
        e.start(Self.ref(2), now: Self.t0 + 1_000, counter: nil)
        // 2 of 4 slots: 100 + 300 × 2/4 = 250 W for 2 s = 500 J, 250 J each
        let a = e.end(Self.ref(1), now: Self.t0 + 3_000, counter: nil)
        // then 1 of 4: 175 W for 1 s = 175 J, all to the second
        let b = e.end(Self.ref(2), now: Self.t0 + 4_000, counter: nil)
        #expect(a.millijoules == 250_000 && !a.measured)
        #expect(b.millijoules == 425_000)
        #expect(e.idleMillijoules == 100_000)
        #expect(e.totalMillijoules == 775_000)
    }

    @Test("measured energy: counter differences, shared by the holders; a reset counter counts from zero")
    func measuredEnergy() {
        var e = EnergyMeter(slots: 8, idleMilliwatts: 0, busyMilliwatts: 0, now: Self.t0, counter: 1_000)
        e.start(Self.ref(1), now: Self.t0 + 10, counter: 1_600)  // 600 idle
        e.start(Self.ref(2), now: Self.t0 + 20, counter: 2_600)  // 1000 to 1
        let one = e.end(Self.ref(1), now: Self.t0 + 30, counter: 3_601)  // 1001 shared: 500 each, 1 carried
        let two = e.end(Self.ref(2), now: Self.t0 + 40, counter: 200)  // reset: 200, and the carried 1, to 2
        #expect(one.millijoules == 1_000 + 500 && one.measured)
        #expect(two.millijoules == 500 + 200 + 1)
        #expect(e.idleMillijoules == 600)
        #expect(e.totalMillijoules == 600 + 1000 + 1001 + 200)
    }

    @Test("energy that does not divide equally carries to the next interval, or to idle; shares add up exactly")
    func energyCarries() {
        var e = EnergyMeter(slots: 512, idleMilliwatts: 0, busyMilliwatts: 0, now: Self.t0, counter: 0)
        var charged: UInt64 = 0
        var counter: UInt64 = 0
        for i in 0..<300 {
            counter += 7
            e.start(Self.ref(UInt64(i)), now: Self.t0 + Int64(i), counter: counter)
        }
        counter += 1_000  // 300 holders: 3 each, 100 carried
        let first = e.end(Self.ref(0), now: Self.t0 + 400, counter: counter)
        #expect(first.millijoules > 0)
        charged += first.millijoules
        for i in 1..<300 {
            counter += 11
            charged += e.end(Self.ref(UInt64(i)), now: Self.t0 + 400 + Int64(i), counter: counter).millijoules
        }
        counter += 5
        e.advance(now: Self.t0 + 1_000, counter: counter)
        #expect(e.totalMillijoules == counter)
        #expect(charged + e.idleMillijoules == counter)
        // Idle: before the first start and after the last end. The last holder, alone,
        // was given every millijoule still carried.
        #expect(e.idleMillijoules == 7 + 5)
    }

    @Test("the README's worked example")
    func workedExample() {
        let profile = CostProfile(
            kind: .owned, purchaseMicroUSD: 315_360_000_000, residualMicroUSD: 0, lifetimeSeconds: 365 * 86_400,
            overheadMicroUSDPerHour: 3_600_000, electricityMicroUSDPerKWh: 100_000, pueMilli: 1500, idleMilliwatts: 1_000_000,
            busyMilliwatts: 4_000_000)
        #expect(CostRates(profile).fixedMicroUSDPerHour == 39_600_000)
        var cost = NodeCostMeter(node: Self.node, pool: "p", rates: CostRates(profile), now: Self.t0)
        var energy = EnergyMeter(slots: 2, idleMilliwatts: 1_000_000, busyMilliwatts: 4_000_000, now: Self.t0, counter: nil)
        let a = Self.ref(1), b = Self.ref(2)
        cost.hold(a, now: Self.t0); energy.start(a, now: Self.t0, counter: nil)
        cost.hold(b, now: Self.t0 + 5_000); energy.start(b, now: Self.t0 + 5_000, counter: nil)
        let ca = cost.release(a, now: Self.t0 + 10_000)!; let ea = energy.end(a, now: Self.t0 + 10_000, counter: nil)
        let cb = cost.release(b, now: Self.t0 + 15_000)!; let eb = energy.end(b, now: Self.t0 + 15_000, counter: nil)
        energy.advance(now: Self.t0 + 20_000, counter: nil)
        #expect(ca.depreciationMicroUSD + ca.overheadMicroUSD == 82_500)
        #expect(cb.depreciationMicroUSD + cb.overheadMicroUSD == 82_500)
        #expect(ea.millijoules == 22_500_000 && eb.millijoules == 22_500_000)
        #expect(energy.idleMillijoules == 5_000_000)
        let energyA = cost.price(millijoules: Int64(ea.millijoules))
        let energyB = cost.price(millijoules: Int64(eb.millijoules))
        cost.addIdleEnergy(Int64(energy.idleMillijoules), measured: false)
        let idle = cost.takeIdle(now: Self.t0 + 20_000)!
        #expect(energyA == 937 && energyB == 938)  // $0.0009375 each: the half micro-dollar carries
        #expect(idle.depreciationMicroUSD + idle.overheadMicroUSD == 55_000)
        #expect(idle.energyMicroUSD == 208)
        let spend = 82_500 + energyA + 82_500 + energyB + idle.totalMicroUSD
        #expect(spend == 222_083)
        let busy = spend - idle.totalMicroUSD
        #expect(busy == 166_875)
        #expect(Double(spend) / 4000 == 55.52075)  // $/Mtok, allocation basis
        #expect(Double(busy) / 4000 == 41.71875)  // usage basis
    }
}
