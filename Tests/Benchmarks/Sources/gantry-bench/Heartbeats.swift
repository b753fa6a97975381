import GantryRuntime
import ArgumentParser
import Foundation
import GantryConfig
import GantryModel
import GantryNet
import GantryWire
import NIOCore
import NIOPosix

/// Many simulated agents in one process, each heartbeating once a second; reports the
/// share of one core gantryd uses to keep up.
struct Heartbeats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Hold N agent connections heartbeating at 1 Hz; measure gantryd's CPU.")

    @OptionGroup var target: Target
    @Option(name: .customLong("join-token-file")) var joinTokenFile: String
    @Option(help: "Simulated agents.") var agents: Int = 1000
    @Option(help: "Seconds to measure once all are connected.") var duration: Double = 20

    func run() async throws {
        raiseFileLimit()
        let token = Secret(try String(contentsOfFile: joinTokenFile, encoding: .utf8))!
        let address = try target.address()
        let connected = Counter()
        let agents = self.agents
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<agents {
                group.addTask { try await Self.agent(index: i, address: address, token: token, connected: connected) }
                if i % 100 == 99 { try await Task.sleep(for: .milliseconds(20)) }
            }
            // Measure once everyone is connected and registered.
            let wait = ContinuousClock.now
            while connected.value < agents {
                try await Task.sleep(for: .milliseconds(100))
                if ContinuousClock.now - wait > .seconds(120) { throw ValidationError("only \(connected.value) of \(agents) agents connected") }
            }
            try await Task.sleep(for: .seconds(2))
            let before = ProcStats(pid: target.gantrydPID)
            let t0 = ContinuousClock.now
            try await Task.sleep(for: .seconds(duration))
            let after = ProcStats(pid: target.gantrydPID)
            let wall = seconds(ContinuousClock.now - t0)
            var out: [String: Any] = ["mode": "heartbeats", "params": ["agents": agents, "duration_s": duration, "interval_ms": 1000]]
            if let b = before, let a = after {
                out["gantryd_cpu_percent_of_one_core"] = (a.cpuSeconds - b.cpuSeconds) / wall * 100
                out["gantryd_rss_mb"] = Double(a.rssKiB) / 1024
                out["gantryd_peak_rss_mb"] = Double(a.peakRSSKiB) / 1024
            }
            out["heartbeats_per_s"] = Double(agents)
            printJSON(out)
            group.cancelAll()
        }
    }

    static func agent(index: Int, address: HostPort, token: Secret, connected: Counter) async throws {
        let id = NodeID("sim-\(index)")!
        let handshake = ClientHandshake(role: .agent, nodeID: id.rawValue, token: token, software: "gantry-bench")
        let connection = try await GantryClient.connect(host: address.host, port: address.port, handshake: handshake, timeout: .seconds(30))
        try await connection.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            let welcome = try await GantryClient.awaitWelcome(&iterator)
            try await outbound.write(WireEnvelope(.agent(.register(Registration(nodeID: id, software: "gantry-bench")))).encode())
            connected.increment()
            let interval = Duration.milliseconds(Int64(welcome.heartbeatIntervalMs))
            // Spread the heartbeats over the interval.
            try await Task.sleep(for: .milliseconds(Int64.random(in: 0..<Int64(welcome.heartbeatIntervalMs))))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var seq: UInt64 = 0
                    while !Task.isCancelled {
                        seq += 1
                        try await outbound.write(WireEnvelope(.agent(.heartbeat(Heartbeat(seq: seq, sentAt: WallClock.now(), engines: [])))).encode())
                        try await Task.sleep(for: interval)
                    }
                }
                // Drain whatever the coordinator sends (Registered, errors).
                while try await iterator.next() != nil {}
                group.cancelAll()
            }
        }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
