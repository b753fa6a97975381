public import GantryModel
import NIOConcurrencyHelpers

/// Admission control for the protocol listener: connection limits, in total and per
/// address, and a penalty for addresses that keep failing the handshake. Thread-safe; the
/// clock is injected (seconds, monotonic) so tests can drive it.
public final class Admission: Sendable {
    public struct Limits: Sendable, Hashable {
        public var maxConnections: Int
        public var maxConnectionsPerAddress: Int
        /// Failed handshakes from one address within a minute before it is slowed down.
        public var authFailuresPerMinute: Int
        /// Unanswered control requests one connection may have before more are refused.
        public var maxInflightRequests: Int

        public init(maxConnections: Int = 10_000, maxConnectionsPerAddress: Int = 256, authFailuresPerMinute: Int = 5, maxInflightRequests: Int = 64) {
            self.maxConnections = maxConnections
            self.maxConnectionsPerAddress = maxConnectionsPerAddress
            self.authFailuresPerMinute = authFailuresPerMinute
            self.maxInflightRequests = maxInflightRequests
        }
    }

    private struct State {
        var total = 0
        var perAddress: [String: Int] = [:]
        var failures: [String: [Double]] = [:]
    }

    private let state = NIOLockedValueBox(State())
    private let limitsBox: NIOLockedValueBox<Limits>
    private let clock: @Sendable () -> Double

    public init(limits: Limits, clock: @escaping @Sendable () -> Double = Admission.monotonicSeconds) {
        self.limitsBox = NIOLockedValueBox(limits)
        self.clock = clock
    }

    public var limits: Limits {
        get { limitsBox.withLockedValue { $0 } }
        set { limitsBox.withLockedValue { $0 = newValue } }
    }

    /// Takes a connection slot for `address`, or says why not.
    public func admit(_ address: String) -> GantryError? {
        let limits = self.limits
        return state.withLockedValue { s in
            if s.total >= limits.maxConnections {
                return GantryError(.limitExceeded, "too many connections: \(s.total) open (limits.max_connections = \(limits.maxConnections))")
            }
            let mine = s.perAddress[address, default: 0]
            if mine >= limits.maxConnectionsPerAddress {
                return GantryError(.limitExceeded, "too many connections from \(address): \(mine) open (limits.max_connections_per_address = \(limits.maxConnectionsPerAddress))")
            }
            s.total += 1
            s.perAddress[address] = mine + 1
            return nil
        }
    }

    /// Gives back a slot taken by `admit`.
    public func release(_ address: String) {
        state.withLockedValue { s in
            s.total = max(0, s.total - 1)
            let left = s.perAddress[address, default: 1] - 1
            s.perAddress[address] = left > 0 ? left : nil
        }
    }

    public func recordAuthFailure(_ address: String) {
        let now = clock()
        state.withLockedValue { s in
            var list = s.failures[address, default: []].filter { now - $0 < 60 }
            list.append(now)
            s.failures[address] = list
        }
    }

    /// How long to hold back the next handshake from `address`: nothing until it failed
    /// `authFailuresPerMinute` times in the last minute, then 1 s, doubling with every
    /// further failure, up to `cap` seconds (30 at most). The listener caps it below the
    /// handshake timeout, so a client with the right token from a penalised address (behind
    /// the same NAT as an attacker, say) is slowed but still gets in.
    public func penalty(for address: String, cap: Double = 30) -> Double {
        let now = clock()
        let limit = limits.authFailuresPerMinute
        return state.withLockedValue { s in
            let recent = s.failures[address, default: []].filter { now - $0 < 60 }
            s.failures[address] = recent.isEmpty ? nil : recent
            let over = recent.count - limit
            guard limit > 0, over >= 0 else { return 0 }
            var delay = 1.0
            for _ in 0..<min(over, 5) { delay *= 2 }
            return min(delay, 30, cap)
        }
    }

    public var openConnections: Int { state.withLockedValue { $0.total } }

    public static let monotonicSeconds: @Sendable () -> Double = {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

#if canImport(Glibc)
import Glibc
#endif
