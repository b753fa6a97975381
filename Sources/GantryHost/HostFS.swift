#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Read access to the host's `/proc` and `/sys`, under an injectable root so tests can
/// point it at a fixture tree.
public struct HostFS: Sendable {
    public let root: String

    public init(root: String = "/") {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public func path(_ absolute: String) -> String { root + absolute }

    /// The file's text, or nil if it cannot be read.
    public func read(_ absolute: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path(absolute)) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    public func list(_ absolute: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: path(absolute)))?.sorted() ?? []
    }
}
