import GantryNet
import NIOConcurrencyHelpers
import Testing

@Suite("Admission: connection limits and the failed-handshake penalty")
struct AdmissionTests {
    final class Clock: @unchecked Sendable {
        let now = NIOLockedValueBox(1000.0)
        func advance(_ s: Double) { now.withLockedValue { $0 += s } }
    }

    @Test("per-address and total limits, and slots given back")
    func limits() {
        let a = Admission(limits: .init(maxConnections: 3, maxConnectionsPerAddress: 2))
        #expect(a.admit("10.0.0.1") == nil)
        #expect(a.admit("10.0.0.1") == nil)
        let third = a.admit("10.0.0.1")
        #expect(third?.code == .limitExceeded)
        #expect(third?.message.contains("limits.max_connections_per_address = 2") == true)
        #expect(a.admit("10.0.0.2") == nil)
        #expect(a.admit("10.0.0.3")?.message.contains("limits.max_connections = 3") == true)
        a.release("10.0.0.1")
        #expect(a.admit("10.0.0.3") == nil)
        #expect(a.openConnections == 3)
    }

    @Test("after N failures in a minute an address waits 1 s, then 2 s, …, at most 30 s; a minute later it is forgiven")
    func penalty() {
        let clock = Clock()
        let a = Admission(limits: .init(authFailuresPerMinute: 3), clock: { clock.now.withLockedValue { $0 } })
        for _ in 0..<2 { a.recordAuthFailure("10.0.0.9") }
        #expect(a.penalty(for: "10.0.0.9") == 0)
        a.recordAuthFailure("10.0.0.9")
        #expect(a.penalty(for: "10.0.0.9") == 1)
        a.recordAuthFailure("10.0.0.9")
        #expect(a.penalty(for: "10.0.0.9") == 2)
        for _ in 0..<20 { a.recordAuthFailure("10.0.0.9") }
        #expect(a.penalty(for: "10.0.0.9") == 30)
        #expect(a.penalty(for: "10.0.0.8") == 0)
        clock.advance(61)
        #expect(a.penalty(for: "10.0.0.9") == 0)
    }
}
