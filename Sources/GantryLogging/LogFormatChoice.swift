public import Logging

/// `--log-format`: text or json lines on stderr (journal comes with the systemd module).
public enum LogFormatChoice: Sendable {
    case stderr(StderrLogHandler.Format)

    public init(flag: String?) throws(LogFormatError) {
        switch flag ?? "text" {
        case "text": self = .stderr(.text)
        case "json": self = .stderr(.json)
        case let other: throw LogFormatError(value: other)
        }
    }

    /// Installs the process-wide log handler. Executables call this once; libraries never.
    public func bootstrap(label: String, level: Logger.Level) {
        switch self {
        case .stderr(let format):
            LoggingSystem.bootstrap { name in StderrLogHandler(label: name, format: format, level: level) }
        }
    }
}

public struct LogFormatError: Error, CustomStringConvertible, Sendable {
    public var value: String
    public var description: String { "--log-format '\(value)' is not one of text, json, journal" }
}
