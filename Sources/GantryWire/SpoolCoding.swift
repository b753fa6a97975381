public import GantryModel
import SwiftProtobuf

/// The agent spool's on-disk form of a result: the protocol's `JobResult` message, so a
/// spooled result is exactly what goes on the wire.
extension AttemptResult {
    public func spoolBytes() -> [UInt8] {
        (try? proto.serializedBytes()) ?? []
    }

    public init(spoolBytes: [UInt8]) throws(GantryError) {
        let message: Gantry_V1_JobResult
        do {
            message = try Gantry_V1_JobResult(serializedBytes: spoolBytes)
        } catch {
            throw GantryError(.badFrame, "not a spooled result: \(error)")
        }
        try self.init(message)
    }
}
