import CSystemd
#if canImport(Glibc)
import Glibc
#endif

/// Sockets passed by systemd (socket activation), by their `FileDescriptorName=`.
public enum SocketActivation {
    /// Listening sockets systemd handed over, keyed by name; empty when not activated.
    /// The environment variables are left in place (children do not inherit them: the
    /// fds are marked close-on-exec).
    public static func listeners() -> [String: CInt] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let n = sd_listen_fds_with_names(0, &names)
        guard n > 0 else { return [:] }
        defer {
            if let names {
                for i in 0..<Int(n) { free(names[i]) }
                free(names)
            }
        }
        var out: [String: CInt] = [:]
        for i in 0..<Int(n) {
            let fd = SD_LISTEN_FDS_START + CInt(i)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let name = names?[i].map { String(cString: $0) } ?? "unknown"
            out[name] = fd
        }
        return out
    }
}
