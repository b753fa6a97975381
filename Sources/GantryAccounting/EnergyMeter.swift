public import GantryModel

/// Splits a host's energy among the attempts that held its slots, on the agent, where
/// attempt boundaries and energy counters are read at the same moment.
///
/// Between two readings the energy is shared equally by the attempts holding slots then
/// (each holds one slot), or counted as idle when none did. With a counter (NVML total
/// energy, RAPL) the energy is measured; without one it is estimated from idle and busy
/// watts and slot occupancy. Integer millijoules: shares add up exactly.
public struct EnergyMeter: Sendable {
    public let slots: Int
    public let idleMilliwatts: Int64
    public let busyMilliwatts: Int64
    var holders: [AttemptRef] = []
    var attemptMJ: [AttemptRef: Int64] = [:]
    var lastAt: Timestamp
    var lastCounter: UInt64?
    var estimate = ExactAccrual()
    /// Cumulative energy while no slot was held, and in all.
    public private(set) var idleMillijoules: UInt64 = 0
    public private(set) var totalMillijoules: UInt64 = 0
    /// Whether the last interval was measured (a counter was read at both ends).
    public private(set) var measured: Bool = false

    public init(slots: Int, idleMilliwatts: Int64, busyMilliwatts: Int64, now: Timestamp, counter: UInt64?) {
        self.slots = max(slots, 1)
        self.idleMilliwatts = idleMilliwatts
        self.busyMilliwatts = max(busyMilliwatts, idleMilliwatts)
        self.lastAt = now
        self.lastCounter = counter
        self.measured = counter != nil
    }

    /// Closes the interval since the last reading.
    public mutating func advance(now: Timestamp, counter: UInt64?) {
        let ms = max(0, now - lastAt)
        let energy: Int64
        if let c = counter, let last = lastCounter {
            // A counter that went backwards was reset (driver reload): count from zero.
            energy = Int64(clamping: c >= last ? c - last : c)
            measured = true
        } else {
            let k = Int64(min(holders.count, slots))
            let milliwatts = idleMilliwatts + (busyMilliwatts - idleMilliwatts) * k / Int64(slots)
            energy = estimate.add(milliwatts, times: ms, over: 1000)
            measured = false
        }
        lastAt = now
        lastCounter = counter
        totalMillijoules &+= UInt64(energy)
        guard !holders.isEmpty else {
            idleMillijoules &+= UInt64(energy)
            return
        }
        let share = energy / Int64(holders.count)
        let extra = Int(energy % Int64(holders.count))
        for (i, ref) in holders.enumerated() {
            attemptMJ[ref, default: 0] += share + (i < extra ? 1 : 0)
        }
    }

    public mutating func start(_ ref: AttemptRef, now: Timestamp, counter: UInt64?) {
        advance(now: now, counter: counter)
        guard attemptMJ[ref] == nil else { return }
        holders.append(ref)
        attemptMJ[ref] = 0
    }

    /// Ends an attempt; returns the energy it is charged and whether that was measured.
    public mutating func end(_ ref: AttemptRef, now: Timestamp, counter: UInt64?) -> (millijoules: UInt64, measured: Bool) {
        advance(now: now, counter: counter)
        holders.removeAll { $0 == ref }
        return (UInt64(max(0, attemptMJ.removeValue(forKey: ref) ?? 0)), measured)
    }
}
