#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Start-up checks of the state directory, so storage problems stop gantryd with a clear
/// message instead of failing later.
enum StorePreflight {
    static func check(directory: String, minFreeBytes: UInt64, writable: Bool) throws(StoreError) {
        var st = stat()
        guard stat(directory, &st) == 0 else {
            throw StoreError("state directory \(directory) does not exist (create it, or set server.state_dir / --state-dir)")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw StoreError("state directory \(directory) is not a directory")
        }
        guard writable else { return }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw StoreError("state directory \(directory) is not writable by this user: \(String(cString: strerror(errno)))")
        }
        // access() ignores read-only mounts; a real write does not.
        let probe = directory + "/.gantry-write-test"
        let fd = open(probe, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError("cannot write in state directory \(directory): \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(probe)
        var fs = statvfs()
        if statvfs(directory, &fs) == 0 {
            let free = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
            if free < minFreeBytes {
                throw StoreError("the disk holding state directory \(directory) has \(free / 1_048_576) MiB free; gantryd needs at least \(minFreeBytes / 1_048_576) MiB (server.min_free_bytes)")
            }
        }
    }
}
