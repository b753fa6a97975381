import Subprocess
import SystemPackage
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Runs a helper command (nvidia-smi) and returns its output. Injectable so tests can
/// run a fake.
public protocol CommandRunner: Sendable {
    /// Nil when the program cannot be found, started, or finished in time.
    func run(_ argv: [String], timeoutMs: Int) async -> CommandOutput?
}

public struct CommandOutput: Sendable, Hashable {
    public var status: Int32
    public var stdout: String

    public init(status: Int32, stdout: String) {
        self.status = status
        self.stdout = stdout
    }
}

/// Runs programs found on `searchPath` (default: `$PATH`), with swift-subprocess.
public struct ProcessCommandRunner: CommandRunner {
    public let searchPath: [String]

    public init(searchPath: [String]? = nil) {
        self.searchPath = searchPath ?? (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
            .split(separator: ":").map(String.init)
    }

    public func resolve(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        for dir in searchPath {
            let candidate = dir + "/" + program
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    public func run(_ argv: [String], timeoutMs: Int) async -> CommandOutput? {
        guard let first = argv.first, let executable = resolve(first) else { return nil }
        return await withTaskGroup(of: CommandOutput?.self) { group in
            group.addTask {
                do {
                    let result = try await Subprocess.run(
                        .path(FilePath(executable)), arguments: Arguments(Array(argv.dropFirst())),
                        output: .string(limit: 1 << 20), error: .discarded)
                    let status: Int32 =
                        switch result.terminationStatus {
                        case .exited(let code): code
                        case .signaled(let signal): 128 + signal
                        }
                    return CommandOutput(status: status, stdout: result.standardOutput)
                } catch {
                    return nil
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(timeoutMs))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
