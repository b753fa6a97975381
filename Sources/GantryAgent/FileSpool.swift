public import GantryModel
import GantryWire
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// Results on disk until the coordinator acknowledges them, in `<state_dir>/spool`.
///
/// Each `write` is one group commit: every result in it goes into one file
/// (`<job>-<attempt>.results`, named after its first result), written under a temporary
/// name, fsynced, renamed into place, and the directory fsynced, so a result that was sent
/// survives `kill -9` and power loss. A file is removed once every result in it is
/// acknowledged. Results are length-prefixed records (4-byte big-endian length, then the
/// protobuf `JobResult`); a `<job>-<attempt>.result` file holds one bare record (the
/// format before batching, still read).
///
/// After a restart, every result in a file still present is sent again, including any
/// that were acknowledged before the crash; gantryd refuses those as already finished, and
/// nothing is counted twice.
public final class FileSpool: ResultSpool {
    public let directory: String

    /// Which file holds each unacknowledged result, and how many are left in each file.
    private struct Files {
        var fileOf: [AttemptRef: String] = [:]
        var remaining: [String: Int] = [:]

        /// `file` holds `refs` (a load may see a file again: it is counted once).
        mutating func set(_ refs: [AttemptRef], in file: String) {
            for ref in refs { fileOf[ref] = file }
            remaining[file] = refs.count
        }
    }
    private let files = NIOLockedValueBox(Files())

    /// Opens the spool, creating `<stateDir>/spool`. The state directory itself must exist
    /// and be writable.
    public init(stateDir: String) throws(SpoolError) {
        var st = stat()
        guard stat(stateDir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw SpoolError("state directory \(stateDir) does not exist (create it, or set state_dir / --state-dir)")
        }
        directory = stateDir + "/spool"
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw SpoolError("cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        let probe = directory + "/.write-test"
        let fd = open(probe, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpoolError("cannot write in \(directory): \(String(cString: strerror(errno)))") }
        close(fd)
        unlink(probe)
    }

    func path(_ ref: AttemptRef, batch: Bool) -> String { "\(directory)/\(ref.job)-\(ref.attempt).result" + (batch ? "s" : "") }

    public func load() throws -> [AttemptResult] {
        guard let dir = opendir(directory) else { throw SpoolError("cannot read \(directory): \(String(cString: strerror(errno)))") }
        defer { closedir(dir) }
        var results: [AttemptResult] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".tmp") {
                unlink(directory + "/" + name)  // a write that never completed: it was never sent
                continue
            }
            let batch = name.hasSuffix(".results")
            guard batch || name.hasSuffix(".result") else { continue }
            let file = directory + "/" + name
            guard let bytes = readAll(file) else { continue }
            do {
                let found = batch ? try Self.records(bytes).map { try AttemptResult(spoolBytes: $0) } : [try AttemptResult(spoolBytes: bytes)]
                files.withLockedValue { $0.set(found.map(\.ref), in: file) }
                results += found
            } catch {
                // Keep the evidence, out of the way.
                rename(file, file + ".corrupt")
                let why = (error as? SpoolError)?.message ?? (error as? GantryError)?.message ?? "\(error)"
                throw SpoolError("spooled results in \(file) are unreadable (moved to \(file).corrupt): \(why)")
            }
        }
        return results.sorted { ($0.ref.job, $0.ref.attempt) < ($1.ref.job, $1.ref.attempt) }
    }

    public func write(_ results: [AttemptResult]) throws {
        guard let first = results.first else { return }
        let final = path(first.ref, batch: true)
        let temp = final + ".tmp"
        var bytes: [UInt8] = []
        for result in results {
            let record = result.spoolBytes()
            withUnsafeBytes(of: UInt32(record.count).bigEndian) { bytes += $0 }
            bytes += record
        }
        let fd = open(temp, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpoolError("cannot create \(temp): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 {
                let e = errno
                close(fd)
                unlink(temp)
                throw SpoolError("cannot write \(temp): \(String(cString: strerror(e)))")
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            let e = errno
            close(fd)
            unlink(temp)
            throw SpoolError("cannot fsync \(temp): \(String(cString: strerror(e)))")
        }
        close(fd)
        guard rename(temp, final) == 0 else { throw SpoolError("cannot rename \(temp): \(String(cString: strerror(errno)))") }
        syncDirectory()
        files.withLockedValue { $0.set(results.map(\.ref), in: final) }
    }

    public func remove(_ ref: AttemptRef) throws {
        let emptied: String? = files.withLockedValue { f in
            guard let file = f.fileOf.removeValue(forKey: ref) else { return nil }
            f.remaining[file, default: 1] -= 1
            guard f.remaining[file]! <= 0 else { return nil }
            f.remaining[file] = nil
            return file
        }
        guard let file = emptied else { return }
        if unlink(file) != 0 && errno != ENOENT {
            throw SpoolError("cannot remove \(file): \(String(cString: strerror(errno)))")
        }
    }

    /// Splits a batch file into its records.
    static func records(_ bytes: [UInt8]) throws(SpoolError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            guard bytes.count - i >= 4 else { throw SpoolError("a record length is cut short at byte \(i)") }
            let length = bytes[i..<i + 4].reduce(0) { $0 << 8 | Int($1) }
            i += 4
            guard bytes.count - i >= length else { throw SpoolError("a record of \(length) bytes at byte \(i - 4) runs past the end") }
            out.append(Array(bytes[i..<i + length]))
            i += length
        }
        return out
    }

    private func syncDirectory() {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    private func readAll(_ file: String) -> [UInt8]? {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }
}

public struct SpoolError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
