import Foundation

/// A private tmpfs, where the test may mount one (root in a container that allows it).
final class TmpfsMount: @unchecked Sendable {
    let path: String

    static let possible: Bool = {
        guard getuid() == 0, let m = try? TmpfsMount(options: "size=64k") else { return false }
        m.unmount()
        return true
    }()

    init(options: String) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-mnt-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard mount("tmpfs", path, "tmpfs", 0, options) == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw TestFailure("mount failed: \(String(cString: strerror(errno)))")
        }
    }

    func unmount() {
        umount(path)
        try? FileManager.default.removeItem(atPath: path)
    }
}
