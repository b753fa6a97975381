public import GantrySystemd
import Logging

/// `--log-format`: text or JSON lines on stderr, or structured journald entries. Without the
/// flag: the journal when stderr is connected to it (`JOURNAL_STREAM`), else text.
public enum LogFormatChoice: Sendable, Equatable {
    case stderr(StderrLogHandler.Format)
    case journal

    public init(flag: String?) throws(LogFormatError) {
        switch flag {
        case nil: self = JournalLogHandler.stderrIsJournal ? .journal : .stderr(.text)
        case "text": self = .stderr(.text)
        case "json": self = .stderr(.json)
        case "journal": self = .journal
        case let other?: throw LogFormatError(value: other)
        }
    }

    /// Installs the process-wide log handler. Executables call this once; libraries never.
    /// The level is read from `level` on every message, so it can change at run time.
    public func bootstrap(identifier: String, level: LogLevelControl) {
        switch self {
        case .stderr(let format):
            LoggingSystem.bootstrap { name in StderrLogHandler(label: name, format: format, level: level) }
        case .journal:
            LoggingSystem.bootstrap { _ in JournalLogHandler(identifier: identifier, level: level) }
        }
    }
}

public struct LogFormatError: Error, CustomStringConvertible, Sendable {
    public var value: String
    public var description: String { "--log-format '\(value)' is not one of text, json, journal" }
}
