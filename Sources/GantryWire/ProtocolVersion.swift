/// Protocol versions. A peer one version older than `current` must keep working, so a
/// server accepts `minSupported...current`.
public enum ProtocolVersion {
    public static let current: UInt32 = 1
    public static let minSupported: UInt32 = 1

    /// The highest version both ranges contain, if any.
    public static func negotiate(clientMin: UInt32, clientMax: UInt32, serverMin: UInt32 = minSupported, serverMax: UInt32 = current) -> UInt32? {
        guard clientMin <= clientMax else { return nil }
        let v = min(clientMax, serverMax)
        return v >= max(clientMin, serverMin) ? v : nil
    }
}

/// The default maximum frame size: 4 MiB.
public let defaultMaxFrameBytes = 4 * 1024 * 1024
