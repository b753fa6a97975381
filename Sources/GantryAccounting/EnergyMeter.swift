public import GantryModel

/// Splits a host's energy among the attempts that held its slots, on the agent, where
/// attempt boundaries and energy counters are read at the same moment.
///
/// Between two readings the energy is shared equally by the attempts holding slots then
/// (each holds one slot), or counted as idle when none did. With a counter (NVML total
/// energy, RAPL) the energy is measured; without one it is estimated from idle and busy
/// watts and slot occupancy. Integer millijoules: what does not divide equally among the
/// holders carries into the next interval (to idle when no slot is held), so every holder
/// gets the same in each interval and the shares add up exactly.
///
/// O(1) a reading: a running total of what each holder has been given, and each attempt's
/// value of it when it started (with hundreds of slots, giving each holder its share at
/// every start and end was a tenth of the agent's CPU).
public struct EnergyMeter: Sendable {
    public let slots: Int
    public let idleMilliwatts: Int64
    public let busyMilliwatts: Int64
    /// The energy given to each holder since the meter started, and each holder's value of
    /// it when it took its slot.
    var perHolder: Int64 = 0
    var startedAt: [AttemptRef: Int64] = [:]
    /// Energy not yet given to anyone: under one millijoule per holder.
    var carry: Int64 = 0
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
            let k = Int64(min(startedAt.count, slots))
            let milliwatts = idleMilliwatts + (busyMilliwatts - idleMilliwatts) * k / Int64(slots)
            energy = estimate.add(milliwatts, times: ms, over: 1000)
            measured = false
        }
        lastAt = now
        lastCounter = counter
        totalMillijoules &+= UInt64(energy)
        let pool = energy + carry
        guard !startedAt.isEmpty else {
            idleMillijoules &+= UInt64(pool)
            carry = 0
            return
        }
        let k = Int64(startedAt.count)
        perHolder += pool / k
        carry = pool % k
    }

    public mutating func start(_ ref: AttemptRef, now: Timestamp, counter: UInt64?) {
        advance(now: now, counter: counter)
        guard startedAt[ref] == nil else { return }
        startedAt[ref] = perHolder
    }

    /// Ends an attempt; returns the energy it is charged and whether that was measured.
    public mutating func end(_ ref: AttemptRef, now: Timestamp, counter: UInt64?) -> (millijoules: UInt64, measured: Bool) {
        advance(now: now, counter: counter)
        guard let start = startedAt.removeValue(forKey: ref) else { return (0, measured) }
        return (UInt64(max(0, perHolder - start)), measured)
    }
}
