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

    func segments(_ spool: FileSpool) throws -> [String] {
        try files(spool).filter { $0.hasSuffix(".seg") }
    }

    @Test("writes go into one segment without new files; acknowledged results are not loaded again")
    func segmentLifecycle() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try FileSpool(stateDir: dir)
        let batch = [result(1), result(2, output: String(repeating: "é", count: 5000)), result(3)]
        try spool.write(batch)
        for n in 4...50 { try spool.write([result(UInt64(n))]) }
        #expect(try files(spool) == ["00000000000000000001.seg"])
        #expect(try FileSpool(stateDir: dir).load() == batch + (4...50).map { result(UInt64($0)) })

        try spool.remove(batch[0].ref)
        try spool.remove(batch[2].ref)
        try spool.remove(batch[2].ref)  // a repeated ack is harmless
        for n in 5...50 { try spool.remove(result(UInt64(n)).ref) }
        // Noted, and written with the next write or flush (no pwrite per acknowledgement).
        #expect(try FileSpool.unacknowledged(stateDir: dir).count == 50)
        spool.flush()
        #expect(try FileSpool.unacknowledged(stateDir: dir).map(\.ref).sorted { $0.job < $1.job } == [batch[1].ref, result(4).ref])
        try spool.remove(result(4).ref)
        try spool.write([result(51)])
        #expect(try FileSpool.unacknowledged(stateDir: dir).map(\.ref).sorted { $0.job < $1.job } == [batch[1].ref, result(51).ref],
                "an acknowledgement goes out with the next write")
        #expect(try FileSpool(stateDir: dir).load() == [batch[1], result(51)])
    }

    @Test("a write that does not fit starts a new segment; a segment goes once it is full and all acknowledged")
    func rotation() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try FileSpool(stateDir: dir, segmentBytes: 4096)
        let big = result(1, output: String(repeating: "x", count: 3000))
        try spool.write([big])
        try spool.write([result(2, output: String(repeating: "y", count: 3000))])
        #expect(try segments(spool).count == 2)
        let huge = result(3, output: String(repeating: "z", count: 20_000))  // larger than a segment
        try spool.write([huge])
        #expect(try segments(spool).count == 3)
        try spool.remove(big.ref)
        #expect(try segments(spool).count == 2, "the first segment is full and all acknowledged")
        try spool.remove(result(2).ref)
        #expect(try segments(spool).count == 1)
        try spool.remove(huge.ref)
        #expect(try segments(spool).count == 1, "the segment being written stays")
        spool.flush()
        #expect(try FileSpool(stateDir: dir).load().isEmpty)
    }

    @Test("after a restart old segments are read, never appended to, and go once acknowledged")
    func reopen() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try FileSpool(stateDir: dir)
        try first.write([result(1), result(2)])
        try first.remove(result(1).ref)
        first.flush()

        let again = try FileSpool(stateDir: dir)
        _ = try again.load()  // loading twice must not count a file twice
        #expect(try again.load().map(\.ref) == [result(2).ref])
        try again.write([result(3)])
        #expect(try segments(again) == ["00000000000000000001.seg", "00000000000000000002.seg"])
        try again.remove(result(2).ref)
        #expect(try segments(again) == ["00000000000000000002.seg"])

        // A segment whose results were all acknowledged goes at the next load.
        try again.remove(result(3).ref)
        again.flush()
        #expect(try FileSpool(stateDir: dir).load().isEmpty)
        #expect(try segments(again).isEmpty)
    }

    @Test("the unfinished tail of a write is dropped silently; an unreadable record with data after it is reported")
    func tornAndDamaged() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try FileSpool(stateDir: dir)
        try spool.write([result(1)])
        try spool.write([result(2)])
        try spool.write([result(3)])
        let file = spool.directory + "/00000000000000000001.seg"
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        var bytes: [UInt8] = []
        SpoolSegment.encode(.result(result(1)), into: &bytes)
        let record = bytes.count  // every record here is the same size

        // Torn: the last record's second half never reached the disk.
        var torn = original
        let last = SpoolSegment.header.count + 2 * record
        for i in (last + record / 2)..<(last + record) { torn[i] = 0 }
        try Data(torn).write(to: URL(fileURLWithPath: file))
        let tornSpool = try FileSpool(stateDir: dir)
        #expect(try tornSpool.load().map(\.ref) == [result(1).ref, result(2).ref])
        #expect(tornSpool.damaged.isEmpty)

        // Damaged: the middle record flipped a byte; the one after it is still there.
        var damaged = original
        damaged[SpoolSegment.header.count + record + 12] ^= 0xFF
        try Data(damaged).write(to: URL(fileURLWithPath: file))
        let damagedSpool = try FileSpool(stateDir: dir)
        #expect(try damagedSpool.load().map(\.ref) == [result(1).ref])
        #expect(damagedSpool.damaged == [SpoolDamage(file: file, problem: "the record at byte \(SpoolSegment.header.count + record) fails its checksum")])
    }

    @Test("CRC-32 is the IEEE one")
    func crc() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    /// A batch file of the format before segments: length-prefixed records.
    func legacyBatch(_ results: [AttemptResult]) -> Data {
        var bytes: [UInt8] = []
        for r in results {
            let record = r.spoolBytes()
            withUnsafeBytes(of: UInt32(record.count).bigEndian) { bytes += $0 }
            bytes += record
        }
        return Data(bytes)
    }

    @Test("result files of the formats before segments are still read and go once acknowledged; unfinished writes are dropped")
    func legacyAndTemporary() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try FileSpool(stateDir: dir)
        let old = result(7)
        let legacy = spool.path(old.ref, batch: false)
        try Data(old.spoolBytes()).write(to: URL(fileURLWithPath: legacy))
        let batch = spool.path(result(8).ref, batch: true)
        try legacyBatch([result(8), result(9)]).write(to: URL(fileURLWithPath: batch))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: spool.directory + "/9-1.results.tmp"))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: spool.directory + "/00000000000000000004.seg.tmp"))

        #expect(try spool.load() == [old, result(8), result(9)])
        #expect(try files(spool) == [legacy, batch].map { URL(fileURLWithPath: $0).lastPathComponent }.sorted())
        try spool.remove(old.ref)
        try spool.remove(result(8).ref)
        #expect(try files(spool) == [URL(fileURLWithPath: batch).lastPathComponent])
        try spool.remove(result(9).ref)
        #expect(try files(spool).isEmpty)
    }

    @Test("a torn batch file of the format before segments is moved aside with an error naming it")
    func corrupt() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try FileSpool(stateDir: dir)
        let file = spool.path(result(1).ref, batch: true)
        let bytes = legacyBatch([result(1), result(2)])
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
