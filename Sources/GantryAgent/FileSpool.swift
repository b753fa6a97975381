public import GantryModel
import GantryWire
#if canImport(Glibc)
import Glibc
#endif

/// Results on disk until the coordinator acknowledges them: one file per attempt in
/// `<state_dir>/spool`, written to a temporary name, fsynced, renamed into place, and the
/// directory fsynced, so a result that was sent survives `kill -9` and power loss.
public final class FileSpool: ResultSpool {
    public let directory: String

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

    func path(_ ref: AttemptRef) -> String { "\(directory)/\(ref.job)-\(ref.attempt).result" }

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
            guard name.hasSuffix(".result") else { continue }
            let file = directory + "/" + name
            guard let bytes = readAll(file) else { continue }
            do {
                results.append(try AttemptResult(spoolBytes: bytes))
            } catch {
                // Keep the evidence, out of the way.
                rename(file, file + ".corrupt")
                throw SpoolError("spooled result \(file) is unreadable (moved to \(file).corrupt): \(error.message)")
            }
        }
        return results.sorted { ($0.ref.job, $0.ref.attempt) < ($1.ref.job, $1.ref.attempt) }
    }

    public func write(_ result: AttemptResult) throws {
        let final = path(result.ref)
        let temp = final + ".tmp"
        let bytes = result.spoolBytes()
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
    }

    public func remove(_ ref: AttemptRef) throws {
        if unlink(path(ref)) != 0 && errno != ENOENT {
            throw SpoolError("cannot remove \(path(ref)): \(String(cString: strerror(errno)))")
        }
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
