import GantryModel
import GantryWire
#if canImport(Glibc)
import Glibc
#endif

/// The on-disk format of the spool's segment files (see `FileSpool`).
///
/// A segment is created at its full size, filled with zeros, and then written in place:
/// an 8-byte header, then records, each a 4-byte big-endian body length, the body's
/// 4-byte big-endian CRC-32 (IEEE), and the body: a kind byte, then for a result (1) the
/// protobuf `JobResult`, for an acknowledgement (2) the job id (8 bytes) and the attempt
/// (4 bytes), big-endian. A zero length ends the records.
enum SpoolSegment {
    static let header: [UInt8] = Array("GSPOOL1\n".utf8)
    static let suffix = ".seg"

    enum Record: Equatable {
        case result(AttemptResult)
        case ack(AttemptRef)
    }

    /// What a segment holds, and where its records stop being readable.
    struct Contents {
        var records: [Record] = []
        /// Set when a record failed its checksum or did not decode and something other
        /// than zeros follows it: damage rather than the unfinished tail of the last write.
        var damage: String?
    }

    static func name(_ number: UInt64) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    static func number(_ name: String) -> UInt64? {
        guard name.hasSuffix(suffix) else { return nil }
        return UInt64(name.dropLast(suffix.count))
    }

    static func encode(_ record: Record, into bytes: inout [UInt8]) {
        var body: [UInt8]
        switch record {
        case .result(let result):
            body = [1] + result.spoolBytes()
        case .ack(let ref):
            body = [2]
            withUnsafeBytes(of: ref.job.rawValue.bigEndian) { body += $0 }
            withUnsafeBytes(of: ref.attempt.bigEndian) { body += $0 }
        }
        withUnsafeBytes(of: UInt32(body.count).bigEndian) { bytes += $0 }
        withUnsafeBytes(of: CRC32.checksum(body).bigEndian) { bytes += $0 }
        bytes += body
    }

    /// Reads a segment's records. A record that fails its checksum (or does not decode)
    /// ends them. Followed by zeros only, it is the unfinished tail of the last write (its
    /// results were never sent: a result is sent only once its write is synced); followed
    /// by anything else, it is reported as damage.
    static func decode(_ bytes: [UInt8]) -> Contents {
        var out = Contents()
        guard bytes.starts(with: header) else {
            if bytes.contains(where: { $0 != 0 }) { out.damage = "it does not start with the spool segment header" }
            return out
        }
        var i = header.count
        while bytes.count - i >= 8 {
            let length = Int(be32(bytes, i))
            if length == 0 { break }
            let start = i + 8
            let problem: String?
            if length > bytes.count - start {
                problem = "a record of \(length) bytes at byte \(i) runs past the end"
            } else if CRC32.checksum(bytes[start..<start + length]) != be32(bytes, i + 4) {
                problem = "the record at byte \(i) fails its checksum"
            } else if let record = record(Array(bytes[start..<start + length])) {
                out.records.append(record)
                i = start + length
                continue
            } else {
                problem = "the record at byte \(i) is not a result or an acknowledgement"
            }
            if bytes[min(bytes.count, start + length)...].contains(where: { $0 != 0 }) { out.damage = problem }
            break
        }
        return out
    }

    private static func record(_ body: [UInt8]) -> Record? {
        guard let kind = body.first else { return nil }
        switch kind {
        case 1:
            return (try? AttemptResult(spoolBytes: Array(body.dropFirst()))).map(Record.result)
        case 2 where body.count == 13:
            let job = body[1..<9].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let attempt = UInt32(be32(body, 9))
            return .ack(AttemptRef(job: JobID(rawValue: job), attempt: attempt))
        default:
            return nil
        }
    }

    private static func be32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        bytes[at..<at + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
}

/// CRC-32 (IEEE 802.3, the one zlib computes), table-driven.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
