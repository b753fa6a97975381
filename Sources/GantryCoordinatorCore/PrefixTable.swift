import DequeModule
import GantryModel
import GantryPlacement

/// Prefix affinity's memory: for one model, which engine served a prompt prefix last. Jobs
/// whose prompts share a prefix then go to that engine while it has room, so the engine's
/// prompt cache is reused. Bounded: past `capacity` prefixes, the least recently placed
/// is forgotten.
struct PrefixTable: Sendable {
    let capacity: Int
    private var entries: [UInt64: (engine: EngineRef, stamp: UInt64)] = [:]
    /// Keys by the stamp they were set with, oldest first; stale pairs (a key set again
    /// since) are skipped when evicting, and dropped when the deque is rebuilt.
    private var order: Deque<(key: UInt64, stamp: UInt64)> = []
    private var stamp: UInt64 = 0

    init(capacity: Int) { self.capacity = max(1, capacity) }

    var count: Int { entries.count }

    func engine(for key: UInt64) -> EngineRef? { entries[key]?.engine }

    mutating func set(_ key: UInt64, _ engine: EngineRef) {
        stamp += 1
        entries[key] = (engine, stamp)
        order.append((key, stamp))
        while entries.count > capacity, let (k, s) = order.popFirst() {
            if entries[k]?.stamp == s { entries[k] = nil }
        }
        if order.count > 2 * capacity + 64 {
            order = Deque(entries.map { ($0.key, $0.value.stamp) }.sorted { $0.1 < $1.1 })
        }
    }

    /// The key of a prompt: FNV-1a over its first `bytes` bytes of UTF-8 (a chat job's
    /// prompt is its messages as plain text).
    static func key(_ prompt: String, bytes: Int) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var n = 0
        for byte in prompt.utf8 {
            guard n < bytes else { break }
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            n += 1
        }
        return hash
    }
}
