import Foundation
@testable import GantrySystemd
import Logging
import Testing

/// A datagram socket standing in for journald's.
final class DatagramSink: @unchecked Sendable {
    let path: String
    let fd: Int32

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString.prefix(8)).sock").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in Array(path.utf8).enumerated() { p[i] = b }
        }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else { throw CocoaError(.fileWriteUnknown) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buffer[0..<n]) : nil
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite("journald handler")
struct JournalTests {
    @Test("fields written to the socket parse back exactly, multi-line messages included")
    func fields() throws {
        let sink = try DatagramSink()
        var logger = Logger(label: "test") { _ in
            JournalLogHandler(identifier: "gantryd", sink: .socket(path: sink.path), level: LogLevelControl(.debug))
        }
        logger[metadataKey: "node.id"] = "gpu-07"
        logger.warning("first line\nsecond line\n\nlast", metadata: [
            "job.id": "1m8jhvn950000", "job.model": "llama-3", "job.tenant": "acme", "error": "a=b\nc",
        ])
        let bytes = try #require(sink.receive())
        let entry = try #require(JournalEntry(nativeDatagram: bytes))
        let fields = Dictionary(entry.fields.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(fields["MESSAGE"] == "first line\nsecond line\n\nlast")
        #expect(fields["PRIORITY"] == "4")
        #expect(fields["SYSLOG_IDENTIFIER"] == "gantryd")
        #expect(fields["GANTRY_JOB_ID"] == "1m8jhvn950000")
        #expect(fields["GANTRY_NODE_ID"] == "gpu-07")
        #expect(fields["GANTRY_MODEL"] == "llama-3")
        #expect(fields["GANTRY_TENANT"] == "acme")
        #expect(fields["GANTRY_ERROR"] == "a=b\nc")
        #expect(fields["CODE_FILE"]?.hasSuffix("JournalTests.swift") == true)
        #expect(entry.fields.count == fields.count)
    }

    @Test("levels map to syslog priorities; the level control filters and can change at run time")
    func levels() throws {
        let sink = try DatagramSink()
        let control = LogLevelControl(.info)
        let logger = Logger(label: "test") { _ in JournalLogHandler(identifier: "x", sink: .socket(path: sink.path), level: control) }
        logger.debug("dropped")
        logger.error("kept")
        #expect(JournalEntry(nativeDatagram: sink.receive() ?? [])?.fields.first { $0.name == "PRIORITY" }?.value == "3")
        control.level = .debug
        logger.debug("now kept")
        let entry = JournalEntry(nativeDatagram: sink.receive() ?? [])
        #expect(entry?.fields.first { $0.name == "MESSAGE" }?.value == "now kept")
        #expect(entry?.fields.first { $0.name == "PRIORITY" }?.value == "7")
    }

    @Test("metadata keys become GANTRY_ field names")
    func fieldNames() {
        #expect(JournalEntry.fieldName(forMetadataKey: "job.id") == "GANTRY_JOB_ID")
        #expect(JournalEntry.fieldName(forMetadataKey: "peer.address") == "GANTRY_PEER_ADDRESS")
        #expect(JournalEntry.fieldName(forMetadataKey: "sl-service") == "GANTRY_SL_SERVICE")
    }

    @Test("without NOTIFY_SOCKET, notifications are no-ops")
    func notifyWithoutSocket() {
        unsetenv("NOTIFY_SOCKET")
        #expect(!Notifier().isActive)
        #expect(!Notifier().send("READY=1"))
    }
}
