import Foundation
import GantryModel
import GantryWire
import Testing

@testable import GantryAgent

@Suite("File spool")
struct FileSpoolTests {
    func stateDir() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-spool-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func result(_ job: UInt64, attempt: UInt32 = 1, output: String = "out") -> AttemptResult {
        AttemptResult(
            ref: AttemptRef(job: JobID(rawValue: job << 20), attempt: attempt), outcome: .succeeded, output: output,
            startedAt: Timestamp(unixMillis: 5), finishedAt: Timestamp(unixMillis: 9))
    }

    func files(_ spool: FileSpool) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: spool.directory).sorted()
    }

    @Test("a batch is one file; it goes once every result in it is acknowledged")
    func batchLifecycle() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try FileSpool(stateDir: dir)
        let batch = [result(1), result(2, output: String(repeating: "é", count: 5000)), result(3)]
        try spool.write(batch)
        try spool.write([result(4)])
        #expect(try files(spool).count == 2)
        #expect(try FileSpool(stateDir: dir).load() == batch + [result(4)])

        try spool.remove(batch[0].ref)
        try spool.remove(batch[2].ref)
        #expect(try files(spool).count == 2, "one result of the batch is still unacknowledged")
        try spool.remove(batch[1].ref)
        try spool.remove(batch[1].ref)  // a repeated ack is harmless
        #expect(try files(spool).count == 1)
        try spool.remove(result(4).ref)
        #expect(try files(spool).isEmpty)
    }

    @Test("after a restart a partly acknowledged batch is read whole, and acks remove it")
    func reopen() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try FileSpool(stateDir: dir)
        try first.write([result(1), result(2)])
        try first.remove(result(1).ref)

        let again = try FileSpool(stateDir: dir)
        _ = try again.load()  // loading twice must not count a file twice
        #expect(try again.load().map(\.ref) == [result(1).ref, result(2).ref])
        try again.remove(result(1).ref)
        try again.remove(result(2).ref)
        #expect(try files(again).isEmpty)
    }

    @Test("single-result files from before batching are still read; unfinished writes are dropped")
    func legacyAndTemporary() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try FileSpool(stateDir: dir)
        let old = result(7)
        let legacy = spool.path(old.ref, batch: false)
        try Data(old.spoolBytes()).write(to: URL(fileURLWithPath: legacy))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: spool.directory + "/9-1.results.tmp"))

        #expect(try spool.load() == [old])
        #expect(try files(spool) == [URL(fileURLWithPath: legacy).lastPathComponent])
        try spool.remove(old.ref)
        #expect(try files(spool).isEmpty)
    }

    @Test("a torn batch file is moved aside with an error naming it")
    func corrupt() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try FileSpool(stateDir: dir)
        try spool.write([result(1), result(2)])
        let file = spool.path(result(1).ref, batch: true)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: file))

        #expect {
            try FileSpool(stateDir: dir).load()
        } throws: { error in
            let message = "\(error)"
            return message.contains(file) && message.contains("runs past the end") && message.contains(".corrupt")
        }
        #expect(FileManager.default.fileExists(atPath: file + ".corrupt"))
    }
}
