/// A standby gantryd's answer to a client's Hello: the leader is elsewhere (high
/// availability). Clients connect to `leaderAddress` instead; it is empty while no gantryd
/// leads (a failover in progress).
public struct NotLeaderError: Error, Hashable, Sendable, CustomStringConvertible {
    public var leaderAddress: String
    public var epoch: UInt64
    public var message: String

    public init(leaderAddress: String, epoch: UInt64, message: String = "") {
        self.leaderAddress = leaderAddress
        self.epoch = epoch
        self.message = message
    }

    public var description: String {
        leaderAddress.isEmpty
            ? "that gantryd is a standby and no gantryd leads right now (a failover may be in progress)"
            : "that gantryd is a standby; the leader is \(leaderAddress) (epoch \(epoch))"
    }
}
