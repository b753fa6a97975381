import CSystemd
public import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes structured journald entries: MESSAGE, PRIORITY,
/// SYSLOG_IDENTIFIER, CODE_FILE/LINE/FUNC, and every metadata key as a GANTRY_* field
/// (`job.id` → GANTRY_JOB_ID, `node.id` → GANTRY_NODE_ID, `job.model` → GANTRY_MODEL,
/// `job.tenant` → GANTRY_TENANT).
///
/// By default it goes through libsystemd's `sd_journal_sendv`; with a socket path it
/// speaks journald's native datagram protocol to that path itself (tests).
public struct JournalLogHandler: LogHandler {
    public enum Sink: Sendable, Hashable {
        case systemd
        case socket(path: String)
    }

    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let identifier: String
    let sink: Sink
    let level: LogLevelControl

    public init(identifier: String, sink: Sink = .systemd, level: LogLevelControl) {
        self.identifier = identifier
        self.sink = sink
        self.level = level
    }

    public var logLevel: Logger.Level {
        get { level.level }
        set { level.level = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    public func entry(for event: LogEvent) -> JournalEntry {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        var fields: [(name: String, value: String)] = [
            ("MESSAGE", "\(event.message)"),
            ("PRIORITY", "\(Self.priority(event.level))"),
            ("SYSLOG_IDENTIFIER", identifier),
            ("CODE_FILE", event.file),
            ("CODE_LINE", "\(event.line)"),
            ("CODE_FUNC", event.function),
        ]
        for key in all.keys.sorted() {
            fields.append((JournalEntry.aliases[key] ?? JournalEntry.fieldName(forMetadataKey: key), "\(all[key]!)"))
        }
        return JournalEntry(fields: fields)
    }

    public func log(event: LogEvent) {
        let entry = entry(for: event)
        switch sink {
        case .systemd: Self.sendv(entry)
        case .socket(let path): Self.sendDatagram(entry.nativeDatagram(), to: path)
        }
    }

    static func sendv(_ entry: JournalEntry) {
        var strings = entry.fields.map { Array("\($0.name)=\($0.value)".utf8) }
        var iov: [iovec] = []
        iov.reserveCapacity(strings.count)
        for i in strings.indices {
            strings[i].withUnsafeMutableBytes { iov.append(iovec(iov_base: $0.baseAddress, iov_len: $0.count)) }
        }
        // The pointers stay valid: `strings` is not mutated again before the call.
        withExtendedLifetime(strings) { _ = sd_journal_sendv(iov, Int32(iov.count)) }
    }

    static func sendDatagram(_ bytes: [UInt8], to path: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in pathBytes.enumerated() { p[i] = b }
        }
        _ = bytes.withUnsafeBytes { buf in
            withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buf.baseAddress, buf.count, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
    }

    /// Whether stderr is connected to the journal (`JOURNAL_STREAM` names its device and inode).
    public static var stderrIsJournal: Bool {
        guard let value = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }
}

/// The log level all handlers read, so SIGHUP can change it while running.
public final class LogLevelControl: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var value: Logger.Level

    public init(_ level: Logger.Level) {
        value = level
        pthread_mutex_init(&lock, nil)
    }

    public var level: Logger.Level {
        get {
            pthread_mutex_lock(&lock)
            defer { pthread_mutex_unlock(&lock) }
            return value
        }
        set {
            pthread_mutex_lock(&lock)
            value = newValue
            pthread_mutex_unlock(&lock)
        }
    }
}
