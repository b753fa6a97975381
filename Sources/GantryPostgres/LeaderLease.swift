import GantryModel
import Logging
import PostgresNIO

/// One leader at a time, by a lease row in the database: the leader's id and address, an
/// epoch that only grows, and an expiry on the database's own clock (so the gantryds'
/// clocks do not matter). The leader renews it; a standby takes it once it has lapsed,
/// raising the epoch, which fences every write of the previous leader (`PostgresStore`).
public struct LeaderLease: Sendable {
    public struct Holder: Hashable, Sendable {
        /// Who holds it ("" when nobody ever did) and where clients reach it.
        public var id: String
        public var address: String
        public var epoch: Int64
        /// Whether the lease is in force now (not lapsed).
        public var live: Bool
        /// Milliseconds until the lease lapses, on the database's clock (0 once it has).
        public var remainingMs: Int64
    }

    let store: PostgresStore
    /// This gantryd: a unique id, and the address its clients use (`[ha] advertise`).
    public let instance: String
    public let address: String
    public let ttlMs: Int64

    public init(store: PostgresStore, instance: String, address: String, ttlMs: Int64) {
        self.store = store
        self.instance = instance
        self.address = address
        self.ttlMs = ttlMs
    }

    /// Takes the lease if it has lapsed (or was released); the new epoch, or nil when
    /// another holds it.
    public func acquire() async throws -> Int64? {
        let rows = try await store.client.query("""
            UPDATE gantry_leader SET holder = \(instance), address = \(address), epoch = epoch + 1,
                expires_at = now() + \(ttlMs) * interval '1 millisecond'
            WHERE id = 1 AND expires_at < now()
            RETURNING epoch
            """, logger: store.logger)
        for try await epoch in rows.decode(Int64.self) { return epoch }
        return nil
    }

    /// Extends the lease; false when it is no longer this gantryd's at `epoch`.
    public func renew(epoch: Int64) async throws -> Bool {
        let rows = try await store.client.query("""
            UPDATE gantry_leader SET expires_at = now() + \(ttlMs) * interval '1 millisecond'
            WHERE id = 1 AND holder = \(instance) AND epoch = \(epoch)
            RETURNING epoch
            """, logger: store.logger)
        for try await _ in rows.decode(Int64.self) { return true }
        return false
    }

    /// Gives the lease up at once (a clean shutdown), so a standby need not wait it out.
    public func release(epoch: Int64) async throws {
        try await store.client.query("""
            UPDATE gantry_leader SET expires_at = now() - interval '1 millisecond'
            WHERE id = 1 AND holder = \(instance) AND epoch = \(epoch)
            """, logger: store.logger)
    }

    /// Who holds the lease now.
    public func holder() async throws -> Holder {
        let rows = try await store.client.query(
            """
            SELECT holder, address, epoch, expires_at > now(),
                   GREATEST(0, CEIL(EXTRACT(EPOCH FROM (expires_at - now())) * 1000))::bigint
            FROM gantry_leader WHERE id = 1
            """, logger: store.logger)
        for try await (id, address, epoch, live, remaining) in rows.decode((String, String, Int64, Bool, Int64).self) {
            return Holder(id: id, address: address, epoch: epoch, live: live, remainingMs: remaining)
        }
        throw GantryError(.internal, "the database has no lease row (its schema is incomplete)")
    }

    /// Says this gantryd is alive (for `gantryctl status`'s standbys).
    public func announce() async throws {
        try await store.client.query("""
            INSERT INTO gantry_instances (id, address, seen_at) VALUES (\(instance), \(address), now())
            ON CONFLICT (id) DO UPDATE SET address = excluded.address, seen_at = excluded.seen_at
            """, logger: store.logger)
    }

    /// The gantryds seen within three lease periods, other than the leader: the standbys'
    /// addresses.
    public func standbys(leader: String) async throws -> [String] {
        let rows = try await store.client.query("""
            SELECT address FROM gantry_instances
            WHERE id <> \(leader) AND seen_at > now() - \(3 * ttlMs) * interval '1 millisecond'
            ORDER BY address
            """, logger: store.logger)
        var out: [String] = []
        for try await address in rows.decode(String.self) { out.append(address) }
        return out
    }
}
