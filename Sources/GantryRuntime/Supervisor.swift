/// What a daemon tells its supervisor (systemd, through sd_notify): readiness, a status
/// line, watchdog pings, reloads and shutdown. `SupervisorService` is its one user; the
/// systemd implementation is `GantrySystemd.Notifier`, and tests record the notices.
public protocol Supervisor: Sendable {
    func ready(status: String?)
    func status(_ line: String)
    func watchdog()
    /// A reload begins (`ready` ends it).
    func reloading()
    func stopping()
    /// How often the supervisor expects watchdog pings, if it enabled a watchdog.
    var watchdogInterval: Duration? { get }
}
