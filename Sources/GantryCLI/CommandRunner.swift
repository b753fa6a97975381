public import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A usage or configuration mistake: exit status 2.
public struct UsageError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An operation that failed: exit status 1.
public struct CommandFailure: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Runs a root command with Gantry's exit-status contract:
/// 0 OK (and `--help`/`--version`), 1 the operation failed, 2 a usage or config error.
/// Errors go to stderr as one line: `<program>: error: <what and where>`.
public enum CommandLineMain {
    public static func run<Command: AsyncParsableCommand>(
        _: Command.Type, program: String, arguments: [String]? = nil, usageErrors: [any Error.Type] = []
    ) async -> Never {
        let error: any Error
        do {
            var command = try Command.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch let e {
            error = e
        }
        let code = Command.exitCode(for: error)
        if code == .success {
            print(Command.fullMessage(for: error))
            exit(0)
        }
        let isUsage = code == .validationFailure || error is UsageError || usageErrors.contains { type(of: error) == $0 }
        var message: String
        if let e = error as? CommandFailure {
            message = e.message
        } else if let e = error as? UsageError {
            message = e.message
        } else if code == .validationFailure {
            message = Command.message(for: error)
        } else {
            message = "\(error)"
        }
        message = message.split(separator: "\n").first.map(String.init) ?? message
        if code == .validationFailure { message += " (see \(program) --help)" }
        writeStderr("\(program): error: \(message)\n")
        exit(isUsage ? 2 : 1)
    }
}

/// Writes to file descriptor 2 directly (the C `stderr` global is not concurrency-safe).
public func writeStderr(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { p in
        var offset = 0
        while offset < p.count {
            let n = write(2, p.baseAddress! + offset, p.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}
