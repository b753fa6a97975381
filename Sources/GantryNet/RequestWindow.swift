public import GantryModel
import GantryWire
import NIOConcurrencyHelpers

/// A control connection's unanswered requests: the connection's own admission layer.
///
/// The connection admits a request before handing it on, and refuses it at once, with a
/// non-fatal `limit_exceeded` naming the setting, while `limit` are unanswered. The
/// connection's `Outbox` marks a request answered when its reply (a response, an error, or
/// a watch's first event) is written, whenever that is: a submit's reply waits for its
/// commit, and stays in the window until then.
public final class RequestWindow: Sendable {
    private let open = NIOLockedValueBox<Set<UInt64>>([])
    private let limit: @Sendable () -> Int

    /// `limit` is read for each request, so a reload applies at once.
    public init(limit: @escaping @Sendable () -> Int) {
        self.limit = limit
    }

    /// Admits a request, or says why not.
    public func admit(_ requestID: UInt64) -> GantryError? {
        let limit = self.limit()
        return open.withLockedValue { open in
            guard open.count < limit else {
                return GantryError(.limitExceeded, "\(open.count) requests are already in flight on this connection (limits.max_inflight_requests = \(limit)); wait for answers")
            }
            open.insert(requestID)
            return nil
        }
    }

    /// Called for every envelope the connection writes.
    func sent(_ envelope: WireEnvelope) {
        guard envelope.requestID != 0 else { return }
        switch envelope.message {
        case .adminResponse, .error, .jobEvent:
            _ = open.withLockedValue { $0.remove(envelope.requestID) }
        default:
            break
        }
    }

    public var count: Int { open.withLockedValue { $0.count } }
}
