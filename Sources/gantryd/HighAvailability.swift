import GantryCLI
import GantryConfig
import GantryCoordinator
import GantryModel
import GantryPostgres
import GantryRuntime
import GantrySystemd
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// gantryd on PostgreSQL: any number of them share one database, one leads. Each starts as
/// a standby (its listeners send clients to the leader) and takes the lease when it lapses;
/// then it loads the state from the database and serves as the leader, renewing the lease,
/// until it stops (and hands the lease over at once) or loses it (and exits: systemd starts
/// it again, as a standby).
struct HighAvailability {
    let context: Serving

    /// Exit status of a leader that lost its lease (EX_TEMPFAIL): systemd restarts it.
    static let steppedDown: Int32 = 75

    func run() async throws {
        let settings = context.settings
        let logger = context.logger
        guard let url = settings.postgresURL else { throw UsageError("[store] kind = \"postgres\" needs url") }
        // The password is the file's first line.
        let password = try settings.postgresPasswordFile.map {
            String(try ConfigFile.readToken($0, purpose: "PostgreSQL password").split(whereSeparator: \.isNewline).first ?? "")
        }
        let advertise = try Self.advertise(settings)
        let store = PostgresStore(url, password: password, logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await store.client.run() }
            // Let the client's run loop start before the first query.
            try await Task.sleep(for: .milliseconds(20))
            do {
                try await Self.migrate(store, logger: logger)
                var random = SystemRandomNumberGenerator()
                let instance = "\(advertise)#\(String(random.next() & 0xFFFF_FFFF, radix: 16))"
                let lease = LeaderLease(store: store, instance: instance, address: advertise, ttlMs: settings.leaseTtlMs)
                if let (epoch, takeover) = try await standby(lease: lease) {
                    store.epoch = epoch
                    LeadershipMetrics.leadership(instance: instance, leader: true)
                    if takeover { LeadershipMetrics.tookOver() }
                    let keeper = LeaseKeeper(lease: lease, epoch: epoch, logger: logger)
                    // Loading the state may take longer than the lease: renew it from now on.
                    group.addTask { await keeper.bridge() }
                    try await context.serve(store: store, first: [keeper]) { coordinator in
                        keeper.coordinator.withLockedValue { $0 = coordinator }
                        let standbys = (try? await lease.standbys(leader: instance)) ?? []
                        await coordinator.setLeadership(address: advertise, epoch: epoch, standbys: standbys)
                    }
                }
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }

    /// Where clients reach this gantryd: `[ha] advertise`, else `server.listen` (a wildcard
    /// host becomes the host name). Needs a fixed port.
    static func advertise(_ settings: CoordinatorConfig) throws -> String {
        if let a = settings.advertise { return a.description }
        guard settings.listen.port != 0 else {
            throw UsageError("with [store] kind = \"postgres\", server.listen needs a fixed port (or set [ha] advertise): standbys send clients to it")
        }
        if ["0.0.0.0", "::", ""].contains(settings.listen.host) {
            var name = [CChar](repeating: 0, count: 256)
            gethostname(&name, name.count)
            let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return HostPort(host: host, port: settings.listen.port).description
        }
        return settings.listen.description
    }

    /// Creates or upgrades the schema; waits up to 30 s for the database to answer.
    static func migrate(_ store: PostgresStore, logger: Logger) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                try await store.migrate()
                return
            } catch let e as GantryError {
                throw CommandFailure(e.message)
            } catch {
                guard ContinuousClock.now < deadline else {
                    throw CommandFailure("cannot reach the PostgreSQL store \(store.location): \(String(reflecting: error))")
                }
                logger.warning("the PostgreSQL store does not answer yet; retrying", metadata: ["store": "\(store.location)", "error": "\(error)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Serves as a standby until this gantryd takes the lease: its epoch, and whether it
    /// took over from another gantryd. Nil when it was told to stop first.
    func standby(lease: LeaderLease) async throws -> (Int64, Bool)? {
        let logger = context.logger
        let view = StandbyView()
        let services = StandbyServices(
            config: context.settings, view: view, instance: lease.instance, logger: logger, metricsText: context.metricsText,
            httpTLS: context.options.httpTLS)
        let election = Election(lease: lease, view: view, logger: logger)
        let supervisor = SupervisorService(
            supervisor: Notifier(), logger: logger,
            ready: { "standby; listening on \(lease.address)" },
            status: {
                let leader = view.leader.address
                return leader.isEmpty ? "standby; no leader yet" : "standby of \(leader)"
            },
            reload: { "nothing (a standby reads its config when it takes over)" })
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: election, successTerminationBehavior: .gracefullyShutdownGroup),
                ] + (services.all + [supervisor]).map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        logger.notice("gantryd starting as a standby", metadata: [
            "version": "\(GantryVersion.current)", "advertise": "\(lease.address)",
        ])
        try await group.run()
        return election.won.withLockedValue { $0 }
    }
}

/// A standby's loop: says it is alive, watches the lease, and takes it once it lapses.
final class Election: Service, Sendable {
    let lease: LeaderLease
    let view: StandbyView
    let logger: Logger
    /// The epoch taken, and whether another gantryd held the lease before.
    let won = NIOLockedValueBox<(Int64, Bool)?>(nil)

    init(lease: LeaderLease, view: StandbyView, logger: Logger) {
        self.lease = lease
        self.view = view
        self.logger = logger
    }

    func run() async throws {
        let interval = Duration.milliseconds(min(1000, max(100, lease.ttlMs / 4)))
        var announced = ContinuousClock.now - .seconds(3600)
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            var pause = interval
            do {
                if ContinuousClock.now - announced > .milliseconds(lease.ttlMs) {
                    try await lease.announce()
                    announced = ContinuousClock.now
                }
                let before = try await lease.holder()
                if !before.live, let epoch = try await lease.acquire() {
                    let takeover = !before.id.isEmpty && before.id != lease.instance
                    logger.notice("took the lease: this gantryd leads", metadata: [
                        "epoch": "\(epoch)", "previous": "\(before.address.isEmpty ? "none" : before.address)",
                    ])
                    won.withLockedValue { $0 = (epoch, takeover) }
                    return
                }
                if before.address != view.leader.address || before.epoch != view.leader.epoch {
                    logger.info("following the leader", metadata: ["leader": "\(before.address)", "epoch": "\(before.epoch)"])
                }
                view.leader = (before.live ? before.address : "", before.epoch)
                // Wake just after the lease would lapse rather than up to a whole interval late.
                pause = min(interval, .milliseconds(before.remainingMs + 5))
            } catch {
                logger.warning("cannot read the lease; retrying", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: pause)
        }
    }
}

/// The leader's lease renewals. Losing the lease (another gantryd took it) or failing to
/// renew it for a whole lease period ends this process at once: its successor may be
/// writing already, and the fenced store would refuse its writes anyway. On a clean stop it
/// hands the lease over (it is stopped last, after the store's writer flushed).
final class LeaseKeeper: Service, Sendable {
    let lease: LeaderLease
    let epoch: Int64
    let logger: Logger
    let coordinator = NIOLockedValueBox<Coordinator?>(nil)
    /// When the lease was last renewed (or taken).
    let renewed = NIOLockedValueBox(ContinuousClock.now)
    /// Whether the service runs (and renews) yet.
    let running = NIOLockedValueBox(false)
    var every: Duration { .milliseconds(max(100, lease.ttlMs / 3)) }

    init(lease: LeaderLease, epoch: Int64, logger: Logger) {
        self.lease = lease
        self.epoch = epoch
        self.logger = logger
    }

    /// Renews the lease from the moment it was taken until the service runs: the state
    /// loads in between, which may take longer than the lease on a busy host.
    func bridge() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: every)
            if Task.isCancelled || running.withLockedValue({ $0 }) { return }
            await renew()
        }
    }

    func run() async throws {
        running.withLockedValue { $0 = true }
        // Told to stop (after every other service, the store's writer included): stop
        // renewing, and hand the lease over.
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: every)
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            await renew()
            if let coordinator = coordinator.withLockedValue({ $0 }) {
                let standbys = (try? await lease.standbys(leader: lease.instance)) ?? []
                await coordinator.setLeadership(address: lease.address, epoch: epoch, standbys: standbys)
            }
        }
        // Stopped (last): hand over now rather than after the lease runs out.
        do {
            try await lease.release(epoch: epoch)
            logger.notice("released the lease", metadata: ["epoch": "\(epoch)"])
        } catch {
            logger.warning("cannot release the lease; a standby takes over when it lapses", metadata: ["error": "\(error)"])
        }
    }

    /// One renewal; steps down when the lease is another's, or could not be renewed for a
    /// whole lease period.
    func renew() async {
        do {
            guard try await lease.renew(epoch: epoch) else {
                let now = (try? await lease.holder()).map { "\($0.address) (epoch \($0.epoch))" } ?? "another gantryd"
                stepDown("lost the leadership: \(now) took over; stepping down without writing anything more")
            }
            renewed.withLockedValue { $0 = ContinuousClock.now }
        } catch {
            logger.warning("cannot renew the lease", metadata: ["error": "\(error)"])
            if ContinuousClock.now - renewed.withLockedValue({ $0 }) > .milliseconds(lease.ttlMs) {
                stepDown("could not renew the lease for \(lease.ttlMs) ms (the store does not answer); a standby may lead now; stepping down")
            }
        }
    }

    func stepDown(_ why: String) -> Never {
        logger.critical("\(why)", metadata: ["epoch": "\(epoch)"])
        writeStderr("gantryd: \(why)\n")
        Glibc.exit(HighAvailability.steppedDown)
    }
}
