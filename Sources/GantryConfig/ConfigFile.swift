#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads config and token files, with errors that say which file and why.
public enum ConfigFile {
    /// The file's text; nil when `path` is the default location and does not exist (then
    /// built-in defaults apply). A missing file that was named explicitly is an error.
    public static func read(_ path: String, isDefault: Bool) throws(ConfigError) -> String? {
        switch readFile(path) {
        case .success(let text): return text
        case .failure(let err) where err.code == ENOENT && isDefault: return nil
        case .failure(let err) where err.code == ENOENT: throw ConfigError("config file \(path) does not exist")
        case .failure(let err): throw ConfigError("cannot read config file \(path): \(describe(err))")
        }
    }

    /// Reads a token file: it must exist and hold a non-empty secret. `${NAME}` in the path
    /// is replaced by the environment variable (e.g. `${CREDENTIALS_DIRECTORY}/join.token`
    /// under systemd's `LoadCredential=`).
    public static func readToken(_ rawPath: String, purpose: String) throws(ConfigError) -> String {
        let path = try expand(rawPath, purpose: purpose)
        switch readFile(path) {
        case .success(let text):
            guard text.contains(where: { !$0.isWhitespace }) else { throw ConfigError("\(purpose) file \(path) is empty") }
            return text
        case .failure(let err) where err.code == ENOENT:
            throw ConfigError("\(purpose) file \(path) does not exist (create one: head -c 32 /dev/urandom | base64 > \(path); chmod 600 \(path))")
        case .failure(let err):
            throw ConfigError("cannot read \(purpose) file \(path): \(describe(err))")
        }
    }


    /// The whole file as UTF-8 text (invalid sequences are repaired), or errno.
    static func readFile(_ path: String) -> Result<String, Errno> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(Errno(errno))
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > 16 * 1024 * 1024 { return .failure(Errno(EFBIG)) }
        }
        return .success(String(decoding: bytes, as: UTF8.self))
    }

    /// Replaces `${NAME}` with the environment variable NAME; an unset one is an error.
    static func expand(_ path: String, purpose: String) throws(ConfigError) -> String {
        var out = ""
        var rest = Substring(path)
        while let dollar = rest.firstIndex(of: "$"), rest[rest.index(after: dollar)...].first == "{" {
            out += rest[..<dollar]
            let nameStart = rest.index(dollar, offsetBy: 2)
            guard let close = rest[nameStart...].firstIndex(of: "}") else {
                throw ConfigError("\(purpose) file \(path): unterminated ${")
            }
            let name = String(rest[nameStart..<close])
            guard let value = getenv(name) else {
                let hint = name == "CREDENTIALS_DIRECTORY" ? " (systemd sets it for units with LoadCredential=)" : ""
                throw ConfigError("\(purpose) file \(path): environment variable \(name) is not set\(hint)")
            }
            out += String(cString: value)
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    struct Errno: Error {
        var code: Int32
        init(_ code: Int32) { self.code = code }
    }

    static func describe(_ err: Errno) -> String {
        String(cString: strerror(err.code))
    }
}
