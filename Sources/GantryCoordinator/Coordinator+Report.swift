import GantryCore
import GantryModel
import GantryNet

extension Coordinator {
    /// A cost report from the store, after writing every node's idle cost up to now.
    func report(_ query: ReportQuery) async -> Result<AdminResponse, GantryError> {
        guard let store else {
            return .failure(GantryError(.unavailable, "reports need the store; this coordinator runs without one"))
        }
        let now = WallClock.now()
        flushIdle(now: now)
        await waitUntilDurable()
        let from = query.from ?? Timestamp(unixMillis: 0)
        let to = query.to ?? now + 1
        guard from < to else { return .failure(GantryError(.badRequest, "the report window is empty: --from must be before --to")) }
        do {
            return .success(.report(try store.report(by: query.by, from: from, to: to)))
        } catch {
            return .failure(GantryError(.unavailable, "the store could not be read: \(error)"))
        }
    }
}
