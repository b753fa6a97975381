import Foundation
import NIOCore
import Testing

/// Where `swift build` put the shipped binaries: next to the test bundle.
enum Binaries {
    static let directory: URL = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // The test runner lives in gantryPackageTests.xctest on Linux; the binaries beside it.
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir
    }()

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// A scratch directory with tokens, removed at the end.
final class Scratch: @unchecked Sendable {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try write("join.token", "join-\(UUID().uuidString)\n")
        try write("admin.token", "admin-\(UUID().uuidString)\n")
        try write("readonly.token", "reader-\(UUID().uuidString)\n")
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Starts a program with posix_spawn, stdout and stderr to files. The tests reap their own
/// children with waitpid: Foundation's Process occasionally never noticed a child's exit.
func spawn(_ executable: String, _ arguments: [String], environment: [String: String], stdout: String, stderr: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    // Nothing else: a child that inherited a test's socket would keep the connection open
    // after the test closed it (a peer then never sees the close).
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {  // glibc 2.34+; Swift's Glibc does not export it
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
    }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    // Default signal handling in the child, whatever the test runner set.
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigdefault(&attributes, &all)
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "NOTIFY_SOCKET")
    env.removeValue(forKey: "LISTEN_FDS")
    env.removeValue(forKey: "LISTEN_PID")
    env.removeValue(forKey: "LISTEN_FDNAMES")
    for (k, v) in environment { env[k] = v }
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        for p in argv { free(p) }
        for p in envp { free(p) }
    }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard rc == 0 else { throw TestFailure("cannot start \(executable): \(String(cString: strerror(rc)))") }
    return pid
}

/// Waits for a child to exit (up to `timeout` seconds); its exit status, or nil if it still runs.
func reap(_ pid: pid_t, timeout: Double) async -> Int32? {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid {
            if status & 0x7F == 0 { return (status >> 8) & 0xFF }  // exited
            return 128 + (status & 0x7F)  // killed by a signal
        }
        if r < 0 { return -1 }
        if Date() >= deadline { return nil }
        try? await Task.sleep(for: .milliseconds(10))
    }
}

/// A running daemon (gantryd, gantry-agent, llama-server) with its output captured to a
/// log file. Killed on deinit if still running.
final class Daemon: @unchecked Sendable {
    let pid: pid_t
    let log: URL
    let name: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    init(_ executable: String, _ arguments: [String], name: String, logDirectory: URL, environment: [String: String] = [:]) throws {
        self.name = name
        log = logDirectory.appendingPathComponent("\(name).log")
        pid = try spawn(executable, arguments, environment: environment, stdout: log.path, stderr: log.path)
    }

    /// Whether it still runs (reaping it if it exited).
    var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        if exitStatus != nil { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exitStatus = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            return false
        }
        return true
    }

    var terminationStatus: Int32 {
        _ = isRunning
        lock.lock()
        defer { lock.unlock() }
        return exitStatus ?? -1
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func signal(_ sig: Int32) { if isRunning { kill(pid, sig) } }

    /// SIGTERM, then SIGKILL if it does not exit in `graceSeconds`.
    func stop(graceSeconds: Double = 10) async {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(graceSeconds)
        while isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if isRunning {
            kill(pid, SIGKILL)
            while isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        }
    }

    func killHard() {
        guard isRunning else { return }
        kill(pid, SIGKILL)
        while isRunning { usleep(5000) }
    }

    /// Waits for a log line matching `pattern` and returns its first capture group.
    func awaitLog(_ pattern: String, timeout: Double = 20) async throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let text = output
            if let m = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                if m.numberOfRanges > 1, let r = Range(m.range(at: 1), in: text) { return String(text[r]) }
                return ""
            }
            if !isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("\(name) never logged /\(pattern)/; \(isRunning ? "still running" : "exit status \(terminationStatus)"); log:\n\(output.suffix(3000))")
    }

    deinit { if isRunning { kill(pid, SIGKILL); var s: Int32 = 0; waitpid(pid, &s, 0) } }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The result of running a command to completion.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a command to completion (bounded by `timeout`), capturing its output.
func runCommand(_ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 60) async throws -> CommandResult {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-cmd-\(UUID().uuidString.prefix(8))").path
    defer {
        unlink(base + ".out")
        unlink(base + ".err")
    }
    let pid = try spawn(executable, arguments, environment: environment, stdout: base + ".out", stderr: base + ".err")
    guard let status = await reap(pid, timeout: timeout) else {
        kill(pid, SIGKILL)
        _ = await reap(pid, timeout: 5)
        throw TestFailure("\(executable) \(arguments.joined(separator: " ")) did not finish in \(timeout)s")
    }
    let out = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
    return CommandResult(status: status, stdout: out, stderr: err)
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes. An error counts as
/// "not yet"; the last one is reported if time runs out.
func eventually(_ what: String, timeout: Double = 20, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    var lastError: (any Error)?
    while Date() < deadline {
        do {
            if try await condition() { return }
        } catch {
            lastError = error
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestFailure("timed out after \(timeout)s waiting for: \(what)" + (lastError.map { " (last error: \($0))" } ?? ""))
}

import AsyncHTTPClient

/// GET a URL; returns the status code and body.
func httpGet(_ url: String) async throws -> (Int, String) {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 16 << 20)
    return (Int(response.status.code), String(buffer: body))
}

/// POSTs a JSON body; the status and the response body.
func httpPost(_ url: String, body: String) async throws -> (Int, String) {
    var request = HTTPClientRequest(url: url)
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(ByteBuffer(string: body))
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let data = try await response.body.collect(upTo: 16 << 20)
    return (Int(response.status.code), String(buffer: data))
}
