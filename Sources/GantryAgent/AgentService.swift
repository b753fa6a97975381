public import ServiceLifecycle
import GantryCore
import GantryModel
import GantryNet
import GantryWire
import Logging
import NIOCore

/// Keeps the agent connected: connect, handshake, serve until the connection drops,
/// then reconnect with exponential backoff and jitter. Probes engines meanwhile.
public struct AgentService: Service {
    let agent: Agent
    let notify: (@Sendable (String) -> Void)?
    let watchdogMicros: UInt64?

    public init(agent: Agent, notify: (@Sendable (String) -> Void)? = nil, watchdogMicros: UInt64? = nil) {
        self.agent = agent
        self.notify = notify
        self.watchdogMicros = watchdogMicros
    }

    public func run() async throws {
        let agent = self.agent
        let logger = agent.logger
        if let notify {
            await agent.superviseWith(send: notify, watchdogMicros: watchdogMicros)
            notify("READY=1")
        }
        // The connection loop runs until the drain below has handed everything back.
        let connections = Task { await Self.connectionLoop(agent: agent) }
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    await agent.probeEngines()
                    try? await Task.sleep(for: .milliseconds(agent.options.probeIntervalMs))
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    await agent.tick()
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            // Graceful shutdown: refuse new work, let running attempts finish (or stop them
            // after the timeout, so the coordinator re-places them), wait for the results to
            // be acknowledged, then disconnect.
            try? await gracefulShutdown()
            self.notify?("STOPPING=1")
            await agent.beginShutdown()
            let deadline = ContinuousClock.now + .milliseconds(agent.options.shutdownTimeoutMs)
            while await agent.runningCount > 0, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(50))
            }
            if await agent.runningCount > 0 {
                logger.warning("shutdown timeout: stopping the attempts still running; the coordinator will place them again")
            }
            await agent.stopAll()
            await agent.flushSpool()
            let ackDeadline = ContinuousClock.now + .seconds(5)
            while await agent.spooledCount > 0, ContinuousClock.now < ackDeadline {
                try? await Task.sleep(for: .milliseconds(50))
            }
            connections.cancel()
            await connections.value
            group.cancelAll()
        }
    }

    /// Connect, serve, and reconnect with exponential backoff and jitter, until cancelled.
    static func connectionLoop(agent: Agent) async {
        let logger = agent.logger
        var backoff = Backoff()
        var rng = SystemRandomNumberGenerator()
        while !Task.isCancelled {
            let start = ContinuousClock.now
            do {
                try await Self.session(agent: agent)
            } catch {
                if !Task.isCancelled {
                    logger.warning("connection to the coordinator failed", metadata: [
                        "coordinator": "\(agent.options.coordinator)", "error": "\(error)",
                    ])
                }
            }
            await agent.disconnected()
            if Task.isCancelled { break }
            // A connection that lived a while resets the backoff.
            if ContinuousClock.now - start > .seconds(10) { backoff.reset() }
            let delay = backoff.next(unit: Double.random(in: 0..<1, using: &rng))
            logger.info("reconnecting", metadata: ["delay_ms": "\(delay)"])
            try? await Task.sleep(for: .milliseconds(delay))
        }
    }

    /// One connection, from connect to close.
    static func session(agent: Agent) async throws {
        let options = agent.options
        let handshake = ClientHandshake(role: .agent, nodeID: options.nodeID.rawValue, token: options.token, software: options.software)
        let connection = try await GantryClient.connect(
            host: options.coordinator.host, port: options.coordinator.port, handshake: handshake, maxFrameBytes: options.maxFrameBytes,
            tls: options.tls)
        let channel = connection.channel
        try await connection.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            let welcome = try await GantryClient.awaitWelcome(&iterator)
            let outbox = Outbox()
            await agent.connected(outbox: outbox, welcome: welcome)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await writeLoop(outbox: outbox, outbound: outbound, channel: channel) }
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(max(50, await agent.heartbeatIntervalMs / 4)))
                        await agent.heartbeat()
                    }
                }
                defer { outbox.finish() }
                while let item = try await iterator.next() {
                    guard case .frame(let frame) = item else { continue }
                    let envelope: WireEnvelope
                    do throws(GantryError) {
                        envelope = try WireEnvelope(frame: frame)
                    } catch {
                        if error.code == .unexpectedMessage {
                            agent.logger.warning("ignoring a message this agent does not understand", metadata: ["error": "\(error.message)"])
                            continue
                        }
                        throw error
                    }
                    await agent.received(envelope)
                }
                throw GantryError(.unavailable, "the coordinator closed the connection")
            }
        }
    }
}
