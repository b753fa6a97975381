import Foundation
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

/// A running daemon (gantryd, gantry-agent, llama-server) with its output captured to a
/// log file. Stopped (SIGKILL) on deinit if still running.
final class Daemon: @unchecked Sendable {
    let process = Process()
    let log: URL
    let name: String

    init(_ executable: String, _ arguments: [String], name: String, logDirectory: URL, environment: [String: String] = [:]) throws {
        self.name = name
        log = logDirectory.appendingPathComponent("\(name).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        env.removeValue(forKey: "LISTEN_FDS")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func signal(_ sig: Int32) { if process.isRunning { kill(pid, sig) } }

    /// SIGTERM, then SIGKILL if it does not exit in `graceSeconds`.
    func stop(graceSeconds: Double = 10) async {
        guard process.isRunning else { return }
        signal(SIGTERM)
        let deadline = Date().addingTimeInterval(graceSeconds)
        while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { signal(SIGKILL) }
        process.waitUntilExit()
    }

    func killHard() {
        signal(SIGKILL)
        process.waitUntilExit()
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
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("\(name) never logged /\(pattern)/; exit status \(process.isRunning ? "running" : "\(process.terminationStatus)"); log:\n\(output.suffix(3000))")
    }

    deinit { if process.isRunning { kill(pid, SIGKILL); process.waitUntilExit() } }
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
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    async let o = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }.value
    async let e = Task.detached { err.fileHandleForReading.readDataToEndOfFile() }.value
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
    if p.isRunning {
        p.terminate()
        throw TestFailure("\(executable) \(arguments.joined(separator: " ")) did not finish in \(timeout)s")
    }
    p.waitUntilExit()
    return CommandResult(status: p.terminationStatus, stdout: String(decoding: await o, as: UTF8.self), stderr: String(decoding: await e, as: UTF8.self))
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
