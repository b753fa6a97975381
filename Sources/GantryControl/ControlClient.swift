import GantryConfig
public import GantryModel
public import GantryWire
public import GantryNet
import NIOConcurrencyHelpers
import NIOCore

/// A control connection to gantryd: authenticated as admin or read-only, requests
/// multiplexed by request id, watches streamed.
public final class ControlClient: Sendable {
    private enum Waiter {
        case response(CheckedContinuation<AdminResponse, any Error>)
        case events(AsyncThrowingStream<JobEvent, any Error>.Continuation)
        /// A submit with `watch`: the ids, then events until every job's final one.
        case submitted(CheckedContinuation<[JobID], any Error>?, AsyncThrowingStream<JobEvent, any Error>.Continuation, remaining: Set<JobID>)
    }

    private struct State {
        var nextID: UInt64 = 1
        var waiters: [UInt64: Waiter] = [:]
        var failure: (any Error)?
    }

    private let state = NIOLockedValueBox(State())
    private let outbox: Outbox
    public let welcome: Welcome

    private init(outbox: Outbox, welcome: Welcome) {
        self.outbox = outbox
        self.welcome = welcome
    }

    /// Connects to the first of `addresses` that answers as the leader (following a
    /// standby's NotLeader to the leader), then as `withConnection(to:)`. With several
    /// addresses and none leading yet (a failover: the old leader is gone, a standby has not
    /// taken over), it tries them all again, 100 ms and doubling apart, for `timeoutMs`.
    public static func withConnection<R: Sendable>(
        to addresses: [HostPort], token: Secret?, timeoutMs: Int64 = 5000, tls: GantryClient.TLS? = nil,
        _ body: @escaping @Sendable (ControlClient) async throws -> R
    ) async throws -> R {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
        var pause = Duration.milliseconds(100)
        var lastError: (any Error)?
        while true {
            var queue = addresses
            var tried: Set<HostPort> = []
            while !queue.isEmpty {
                let address = queue.removeFirst()
                guard tried.insert(address).inserted else { continue }
                let started = NIOLockedValueBox(false)
                do {
                    return try await withConnection(to: address, token: token, timeoutMs: timeoutMs, tls: tls) { client in
                        started.withLockedValue { $0 = true }
                        return try await body(client)
                    }
                } catch let r as NotLeaderError {
                    lastError = r
                    if let leader = try? HostPort(parsing: r.leaderAddress) { queue.insert(leader, at: 0) }
                } catch {
                    // Only a connection that never got to `body` is tried elsewhere.
                    if started.withLockedValue({ $0 }) || addresses.count == 1 { throw error }
                    lastError = error
                }
            }
            guard addresses.count > 1, ContinuousClock.now + pause < deadline else { break }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(1))
        }
        if let r = lastError as? NotLeaderError { throw GantryError(.unavailable, "\(r)") }
        throw lastError ?? GantryError(.unavailable, "no coordinator address given")
    }

    /// Connects, authenticates, runs `body`, then closes the connection.
    public static func withConnection<R: Sendable>(
        to address: HostPort, token: Secret?, timeoutMs: Int64 = 5000, tls: GantryClient.TLS? = nil,
        _ body: @escaping @Sendable (ControlClient) async throws -> R
    ) async throws -> R {
        let handshake = ClientHandshake(role: .admin, token: token, software: "gantryctl/\(GantryVersion.current)")
        let tap = FrameTap()
        let connection = try await GantryClient.connect(
            host: address.host, port: address.port, handshake: handshake, timeout: .milliseconds(timeoutMs), tls: tls, tap: tap)
        let channel = connection.channel
        return try await connection.executeThenClose { inbound, _ in
            var iterator = inbound.makeAsyncIterator()
            let welcome = try await GantryClient.awaitWelcome(&iterator)
            // Requests are written on the event loop and answers dispatched there: no task
            // to wake either way.
            let outbox = Outbox(channel: channel)
            try await channel.pipeline.addHandler(OutboxWritabilityHandler(outbox: outbox), position: .first)
            let client = ControlClient(outbox: outbox, welcome: welcome)
            tap.start(on: channel) { frame in
                do {
                    client.dispatch(try WireEnvelope(frame: frame))
                } catch {
                    client.fail(error)
                    channel.close(promise: nil)
                }
            }
            // `body` runs in a child task and closes the connection when it is done; this
            // task waits for the connection to end (the stream carries no frames now).
            return try await withThrowingTaskGroup(of: R?.self) { group in
                group.addTask {
                    defer { outbox.close(with: WireEnvelope(.goodbye("done"))) }
                    return try await body(client)
                }
                do {
                    while try await iterator.next() != nil {}
                    client.fail(GantryError(.unavailable, "gantryd closed the connection"))
                } catch {
                    client.fail(error)
                }
                outbox.finish()
                var result: R?
                while let r = try await group.next() {
                    if let r { result = r }
                }
                guard let result else { throw GantryError(.unavailable, "gantryd closed the connection") }
                return result
            }
        }
    }

    /// Sends a request and waits for its answer; an Error frame is thrown as `GantryError`.
    public func request(_ request: AdminRequest) async throws -> AdminResponse {
        try await withCheckedThrowingContinuation { continuation in
            let id: UInt64? = state.withLockedValue { s in
                if s.failure != nil { return nil }
                let id = s.nextID
                s.nextID += 1
                s.waiters[id] = .response(continuation)
                return id
            }
            guard let id else {
                let failure: (any Error)? = state.withLockedValue { $0.failure }
                continuation.resume(throwing: failure ?? GantryError(.unavailable, "connection closed"))
                return
            }
            outbox.send(WireEnvelope(.adminRequest(request), requestID: id))
        }
    }

    /// Streams a job's changes until its final event.
    public func watch(_ job: JobID) -> AsyncThrowingStream<JobEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<JobEvent, any Error>.makeStream()
        let id: UInt64? = state.withLockedValue { s in
            if s.failure != nil { return nil }
            let id = s.nextID
            s.nextID += 1
            s.waiters[id] = .events(continuation)
            return id
        }
        if let id {
            outbox.send(WireEnvelope(.adminRequest(.watchJob(job)), requestID: id))
        } else {
            let failure: (any Error)? = state.withLockedValue { $0.failure }
            continuation.finish(throwing: failure ?? GantryError(.unavailable, "connection closed"))
        }
        return stream
    }

    /// Submits jobs and streams their events: the ids once they are durable, then every
    /// change of every job until each one's final event.
    public func submitWatching(_ specs: [JobSpec]) async throws -> (ids: [JobID], events: AsyncThrowingStream<JobEvent, any Error>) {
        let (stream, events) = AsyncThrowingStream<JobEvent, any Error>.makeStream()
        let ids: [JobID] = try await withCheckedThrowingContinuation { continuation in
            let id: UInt64? = state.withLockedValue { s in
                if s.failure != nil { return nil }
                let id = s.nextID
                s.nextID += 1
                s.waiters[id] = .submitted(continuation, events, remaining: [])
                return id
            }
            guard let id else {
                let failure: (any Error)? = state.withLockedValue { $0.failure }
                continuation.resume(throwing: failure ?? GantryError(.unavailable, "connection closed"))
                return
            }
            outbox.send(WireEnvelope(.adminRequest(.submit(specs, watch: true)), requestID: id))
        }
        return (ids, stream)
    }

    private func dispatch(_ envelope: WireEnvelope) {
        var envelope = envelope
        // An answer this client cannot read fails its request, like an error would.
        if case .unreadable(let e) = envelope.message { envelope.message = .error(e, fatal: false) }
        if envelope.requestID == 0 {
            if case .error(let e, true) = envelope.message { fail(e) }
            if case .goodbye(let reason) = envelope.message { fail(GantryError(.unavailable, "gantryd closed the connection: \(reason)")) }
            return
        }
        let waiter: Waiter? = state.withLockedValue { s in
            guard let w = s.waiters[envelope.requestID] else { return nil }
            switch (w, envelope.message) {
            case (.events, .jobEvent(let e)) where !e.final:
                break
            case (.submitted(_, let events, _), .adminResponse(.submitted(let ids))):
                s.waiters[envelope.requestID] = .submitted(nil, events, remaining: Set(ids))
            case (.submitted(_, let events, var remaining), .jobEvent(let e)):
                if e.final { remaining.remove(e.job.id) }
                s.waiters[envelope.requestID] = remaining.isEmpty ? nil : .submitted(nil, events, remaining: remaining)
            default:
                s.waiters[envelope.requestID] = nil
            }
            return w
        }
        switch (waiter, envelope.message) {
        case (.response(let c)?, .adminResponse(let r)): c.resume(returning: r)
        case (.response(let c)?, .error(let e, _)): c.resume(throwing: e)
        case (.response(let c)?, let other): c.resume(throwing: GantryError(.unexpectedMessage, "gantryd answered with \(other.kind)"))
        case (.events(let c)?, .jobEvent(let e)):
            c.yield(e)
            if e.final { c.finish() }
        case (.events(let c)?, .error(let e, _)): c.finish(throwing: e)
        case (.events(let c)?, let other): c.finish(throwing: GantryError(.unexpectedMessage, "gantryd answered with \(other.kind)"))
        case (.submitted(let c?, _, _)?, .adminResponse(.submitted(let ids))): c.resume(returning: ids)
        case (.submitted(let c?, let events, _)?, .error(let e, _)):
            c.resume(throwing: e)
            events.finish(throwing: e)
        case (.submitted(_, let events, let remaining)?, .jobEvent(let e)):
            events.yield(e)
            if e.final && remaining.subtracting([e.job.id]).isEmpty { events.finish() }
        case (.submitted(let c, let events, _)?, let other):
            let e = GantryError(.unexpectedMessage, "gantryd answered with \(other.kind)")
            c?.resume(throwing: e)
            events.finish(throwing: e)
        case (nil, _): break
        }
    }

    private func fail(_ error: any Error) {
        let waiters: [Waiter] = state.withLockedValue { s in
            if s.failure == nil { s.failure = error }
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters {
            switch w {
            case .response(let c): c.resume(throwing: error)
            case .events(let c): c.finish(throwing: error)
            case .submitted(let c, let events, _):
                c?.resume(throwing: error)
                events.finish(throwing: error)
            }
        }
    }
}
