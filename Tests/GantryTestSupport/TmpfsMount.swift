import Foundation

/// A private tmpfs, where the test may mount one (root in a container that allows it).
/// Shared by the store and integration tests, which use it to fake read-only and full disks.
public final class TmpfsMount: @unchecked Sendable {
    public let path: String

    public static let possible: Bool = {
        guard getuid() == 0, let m = try? TmpfsMount(options: "size=64k") else { return false }
        m.unmount()
        return true
    }()

    public init(options: String) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("gantry-mnt-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard mount("tmpfs", path, "tmpfs", 0, options) == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw MountError(message: "mount failed: \(String(cString: strerror(errno)))")
        }
    }

    public func unmount() {
        umount(path)
        try? FileManager.default.removeItem(atPath: path)
    }

    public struct MountError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
