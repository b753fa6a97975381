import Foundation
/// A `host:port` listen or connect address (`[::1]:7420` for IPv6).
public struct HostPort: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws(AddressError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw AddressError("'\(text)' is not HOST:PORT (missing ']')") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw AddressError("'\(text)' is not HOST:PORT (no port)") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw AddressError("'\(text)' is not HOST:PORT (no port)") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else { throw AddressError("'\(text)' is not HOST:PORT (empty host)") }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw AddressError("'\(text)' is not HOST:PORT (port must be 0-65535)")
        }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Why a `host:port` text is not an address.
public struct AddressError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension HostPort {
    /// `a:7420,b:7420`: the coordinators a client may reach (the leader and its standbys).
    public static func list(parsing text: String) throws(AddressError) -> [HostPort] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty, !parts.contains(where: \.isEmpty) else { throw AddressError("'\(text)' is not a comma-separated list of HOST:PORT") }
        var out: [HostPort] = []
        for part in parts { out.append(try HostPort(parsing: part)) }
        return out
    }
}
