public import ServiceLifecycle
import GantryAgentCore
import GantryRuntime
import GantryModel
import GantryNet
import GantryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Keeps the agent connected: connect, handshake, serve until the connection drops,
/// then reconnect with exponential backoff and jitter. Meanwhile it runs the attempts, the
/// spool's writer and the engine probes, all as child tasks of one task group.
public struct AgentService: Service {
    let agent: Agent

    public init(agent: Agent) {
        self.agent = agent
    }

    public func run() async throws {
        let agent = self.agent
        let logger = agent.logger
        await withDiscardingTaskGroup { group in
            group.addTask {
                await agent.spoolWriter.run(committed: { await agent.spoolCommitted(through: $0) }, failed: { _ in })
            }
            group.addTask { await agent.runAttempts() }
            group.addTask { await Self.connectionLoop(agent: agent) }
            group.addTask {
                while !Task.isCancelled {
                    await agent.probeEngines()
                    try? await Task.sleep(for: .milliseconds(agent.options.probeIntervalMs))
                }
            }
            for (name, engine) in agent.engines.sorted(by: { $0.key < $1.key }) {
                guard let scraper = engine.scraper else { continue }
                let interval = engine.config.telemetryIntervalMs
                group.addTask {
                    while !Task.isCancelled {
                        let started = ContinuousClock.now
                        let before = await agent.gantryRunning(name)
                        let readable = await agent.scraped(name, await scraper.scrape(), gantryBefore: before)
                        // One scrape per interval, however long it took; an engine without
                        // readable metrics is asked again every half minute (it may be
                        // restarted with them).
                        let next = started + .milliseconds(readable ? interval : max(interval, 30_000))
                        try? await Task.sleep(until: next, clock: .continuous)
                    }
                }
            }
            // Graceful shutdown: refuse new work, let running attempts finish (or stop them
            // after the timeout, so the coordinator re-places them), wait for the results to
            // be acknowledged, then disconnect.
            try? await gracefulShutdown()
            await agent.beginShutdown()
            let finished = await Self.within(.milliseconds(agent.options.shutdownTimeoutMs)) { await agent.waitUntilIdle() }
            if !finished {
                logger.warning("shutdown timeout: stopping the attempts still running; the coordinator will place them again")
                await agent.stopAll()
                await agent.waitUntilIdle()
            }
            await agent.flushSpool()
            _ = await Self.within(.seconds(5)) { await agent.waitUntilAcknowledged() }
            await agent.flushSpool()  // the acknowledgements that came meanwhile
            group.cancelAll()
        }
    }

    /// Runs `body` for at most `limit`; true if it returned in time.
    static func within(_ limit: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await body()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
    }

    /// Connect, serve, and reconnect with exponential backoff and jitter, until cancelled.
    /// With several coordinators (a leader and its standbys), a failed one is followed by
    /// the next, and a standby's NotLeader sends the agent straight to the leader.
    static func connectionLoop(agent: Agent) async {
        let logger = agent.logger
        var backoff = Backoff()
        var rng = SystemRandomNumberGenerator()
        let coordinators = agent.options.coordinators
        var next = 0
        var redirect: HostPort?
        var redirects = 0
        // A standby answered since the last good connection: a failover is under way and a
        // new leader is seconds away, so the delays stay short (about ½–1 s).
        var standbyAnswered = false
        while !Task.isCancelled {
            let start = ContinuousClock.now
            let target = redirect ?? coordinators[next % coordinators.count]
            redirect = nil
            do {
                try await Self.session(agent: agent, coordinator: target)
            } catch let r as NotLeaderError {
                standbyAnswered = true
                await agent.disconnected()
                if let leader = try? HostPort(parsing: r.leaderAddress), redirects < 3 {
                    logger.info("that coordinator is a standby; going to the leader", metadata: [
                        "coordinator": "\(target)", "leader": "\(leader)", "epoch": "\(r.epoch)",
                    ])
                    redirect = leader
                    redirects += 1
                    continue
                }
                logger.warning("no coordinator leads yet", metadata: ["coordinator": "\(target)", "error": "\(r)"])
                next += 1
            } catch {
                if !Task.isCancelled {
                    logger.warning("connection to the coordinator failed", metadata: [
                        "coordinator": "\(target)", "error": "\(error)",
                    ])
                }
                next += 1
            }
            redirects = 0
            await agent.disconnected()
            if Task.isCancelled { break }
            // A connection that lived a while resets the backoff.
            if ContinuousClock.now - start > .seconds(10) {
                backoff.reset()
                standbyAnswered = false
            }
            var delay = backoff.next(unit: Double.random(in: 0..<1, using: &rng))
            if standbyAnswered { delay = min(delay, Int64(500 + Double.random(in: 0..<500, using: &rng))) }
            logger.info("reconnecting", metadata: ["delay_ms": "\(delay)"])
            try? await Task.sleep(for: .milliseconds(delay))
        }
    }

    /// One connection, from connect to close.
    static func session(agent: Agent, coordinator: HostPort) async throws {
        let options = agent.options
        let handshake = ClientHandshake(role: .agent, nodeID: options.nodeID.rawValue, token: options.token, software: options.software)
        let connection = try await GantryClient.connect(
            host: coordinator.host, port: coordinator.port, handshake: handshake, maxFrameBytes: options.maxFrameBytes,
            tls: options.tls)
        let channel = connection.channel
        try await connection.executeThenClose { inbound, _ in
            var iterator = inbound.makeAsyncIterator()
            let welcome = try await GantryClient.awaitWelcome(&iterator)
            // Written on the channel's event loop, with no writer task: one hop less for
            // every accept and result.
            let outbox = Outbox(channel: channel)
            try await channel.pipeline.addHandler(OutboxWritabilityHandler(outbox: outbox), position: .first)
            await agent.connected(outbox: outbox, welcome: welcome, coordinator: coordinator)
            let silence = NIOLockedValueBox<GantryError?>(nil)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(max(50, await agent.heartbeatIntervalMs / 4)))
                        await agent.heartbeat()
                        if let silent = await agent.coordinatorSilence() {
                            let error = GantryError(.unavailable, "the coordinator has not answered for \(silent) ms (paused, or cut off); looking for the leader again")
                            silence.withLockedValue { $0 = error }
                            // The group's cancellation does not reach the reader below;
                            // closing the connection ends it.
                            channel.close(promise: nil)
                            throw error
                        }
                    }
                }
                defer { outbox.finish() }
                while let item = try await iterator.next() {
                    guard case .frame(let frame) = item else { continue }
                    await agent.received(try WireEnvelope(frame: frame))
                }
                throw silence.withLockedValue { $0 } ?? GantryError(.unavailable, "the coordinator closed the connection")
            }
        }
    }
}
