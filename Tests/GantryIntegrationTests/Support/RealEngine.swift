import Foundation
import Testing

/// llama.cpp's llama-server with the tiny test model, as scripts/test provides them
/// (`$GANTRY_LLAMA_SERVER`, `$GANTRY_TINY_MODEL`, else the default cache locations).
enum RealEngine {
    static var cache: String {
        let env = ProcessInfo.processInfo.environment
        if let c = env["GANTRY_CACHE"] { return c }
        let base = env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
        return base + "/gantry"
    }

    static var binary: String {
        ProcessInfo.processInfo.environment["GANTRY_LLAMA_SERVER"] ?? "\(cache)/llama-server-0.3.36/llama-server"
    }

    static var model: String {
        ProcessInfo.processInfo.environment["GANTRY_TINY_MODEL"] ?? "\(cache)/tiny-model/tiny.gguf"
    }

    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: binary) && FileManager.default.fileExists(atPath: model)
    }

    /// scripts/test sets GANTRY_REQUIRE_REAL_ENGINE=1: there a missing engine fails the
    /// tests instead of skipping them.
    static var required: Bool { ProcessInfo.processInfo.environment["GANTRY_REQUIRE_REAL_ENGINE"] == "1" }

    static var enabled: Bool { available || required }

    /// Starts a llama-server on a free port with `slots` parallel sequences.
    static func start(name: String, in scratch: Scratch, slots: Int = 4, context: Int = 4096) async throws -> (Daemon, Int) {
        guard available else {
            throw TestFailure("llama-server or the tiny model is missing (\(binary), \(model)); run scripts/test, which builds them")
        }
        let port = try freePort()
        let daemon = try Daemon(binary, [
            "-m", model, "--host", "127.0.0.1", "--port", "\(port)", "-np", "\(slots)", "-c", "\(context)",
            "--alias", "tiny", "--no-webui", "--offline", "--no-warmup", "-t", "1", "-lv", "1", "--metrics",
        ], name: name, logDirectory: scratch.url)
        try await eventually("\(name) healthy", timeout: 30) {
            (try? await httpGet("http://127.0.0.1:\(port)/health").0) == 200
        }
        return (daemon, port)
    }

    static func engineTOML(port: Int, slots: Int = 4) -> String {
        """
        [[engine]]
        name = "llama"
        kind = "openai"
        url = "http://127.0.0.1:\(port)"
        health_path = "/health"
        models = ["tiny"]
        slots = \(slots)
        """
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; fine for tests).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket() failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else { throw TestFailure("bind() failed") }
    return Int(UInt16(bigEndian: addr.sin_port))
}
