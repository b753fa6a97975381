import CSystemd
public import GantryRuntime
#if canImport(Glibc)
import Glibc
#endif

/// sd_notify(3): tells systemd about readiness, status, watchdog pings, reloads and
/// shutdown. Every call is a no-op when `NOTIFY_SOCKET` is unset (not run by systemd).
/// The daemons speak to it only through `SupervisorService`.
public struct Notifier: Supervisor {
    public init() {}

    /// Whether a supervisor is listening.
    public var isActive: Bool { getenv("NOTIFY_SOCKET") != nil }

    @discardableResult
    func send(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    public func ready(status: String?) {
        send(status.map { "READY=1\nSTATUS=\($0)" } ?? "READY=1")
    }

    public func status(_ line: String) {
        send("STATUS=\(line)")
    }

    public func watchdog() {
        send("WATCHDOG=1")
    }

    /// RELOADING=1 with the monotonic time (as `Type=notify-reload` requires); `ready` ends it.
    public func reloading() {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let usec = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        send("RELOADING=1\nMONOTONIC_USEC=\(usec)")
    }

    public func stopping() {
        send("STOPPING=1")
    }

    /// The watchdog interval systemd expects pings within, if it enabled one for us
    /// (`WatchdogSec=`, seen as `WATCHDOG_USEC`).
    public var watchdogInterval: Duration? {
        var usec: UInt64 = 0
        return sd_watchdog_enabled(0, &usec) > 0 && usec > 0 ? .microseconds(Int64(usec)) : nil
    }
}
