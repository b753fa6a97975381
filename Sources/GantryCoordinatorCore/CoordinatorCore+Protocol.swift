public import GantryModel

extension CoordinatorCore {
    /// A message this coordinator could not read (an unknown payload or request type from a
    /// newer peer, a malformed field): refused on its own, the connection stays open. A
    /// request gets the error as its answer; anything else an error frame.
    public func unreadable(_ error: GantryError, requestID: UInt64, session: SessionID) -> [CoordinatorDirective] {
        requestID != 0 ? [.reply(session, requestID: requestID, .failure(error))] : [.error(session, error, fatal: false)]
    }

    /// A message the peer's role may not send (an agent's AdminRequest, a control client's
    /// Heartbeat…): refused on its own, like an unreadable one.
    public func unexpected(_ kind: String, from role: String, requestID: UInt64, session: SessionID) -> [CoordinatorDirective] {
        let article = role.first.map { "aeiou".contains($0) } == true ? "an" : "a"
        return unreadable(GantryError(.unexpectedMessage, "\(kind) is not something \(article) \(role) peer may send"), requestID: requestID, session: session)
    }
}
