import Foundation
import GantryModel
@testable import GantryWire
import SwiftProtobuf
import Testing

/// The protocol's contract as proto/README.md states it, checked over loopback against the
/// shipped gantryd: an error about one request is non-fatal and echoes its request id, and
/// every request pipelined behind it is answered; only framing, handshake and identity
/// errors close a connection.
@Suite("Protocol contract over loopback (shipped gantryd)", .serialized)
struct ProtocolContractTests {
    func token(_ cluster: Cluster, _ name: String = "admin.token") throws -> String {
        try String(contentsOfFile: cluster.scratch.file(name), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func body(_ requestID: UInt64, _ build: (inout Gantry_V1_AdminRequest) -> Void) -> [UInt8] {
        var request = Gantry_V1_AdminRequest()
        build(&request)
        var envelope = Gantry_V1_Envelope()
        envelope.requestID = requestID
        envelope.adminRequest = request
        return try! envelope.serializedBytes()
    }

    /// Bad requests, each with the code it must get.
    static let badRequests: [(String, ErrorCode, @Sendable (inout Gantry_V1_AdminRequest) -> Void)] = [
        ("GetJob, not a job id", .badRequest, { $0.getJob = .with { $0.jobID = "not a job id!" } }),
        ("GetJob, empty id", .badRequest, { $0.getJob = .with { $0.jobID = "" } }),
        ("GetJob, 200 zeros", .badRequest, { $0.getJob = .with { $0.jobID = String(repeating: "0", count: 200) } }),
        ("GetJob, a letter outside base32", .badRequest, { $0.getJob = .with { $0.jobID = "0000000000u00" } }),
        ("CancelJob, malformed id", .badRequest, { $0.cancelJob = .with { $0.jobID = "x" } }),
        ("WatchJob, malformed id", .badRequest, { $0.watchJob = .with { $0.jobID = "x" } }),
        ("ExplainJob, malformed id", .badRequest, { $0.explainJob = .with { $0.jobID = "x" } }),
        ("SetNode, no action", .badRequest, { $0.setNode = .with { $0.nodeID = "n1" } }),
        ("SetNode, an action from a newer version", .unsupported, { $0.setNode = .with { $0.nodeID = "n1"; $0.action = .UNRECOGNIZED(42) } }),
        ("GetNode, empty id", .badRequest, { $0.getNode = .with { $0.nodeID = "" } }),
        ("ListJobs, unknown state", .badRequest, { $0.listJobs = .with { $0.state = "sleeping" } }),
        ("Report, unknown key", .badRequest, { $0.report = .with { $0.by = "colour" } }),
        ("an empty AdminRequest", .badRequest, { _ in }),
    ]

    @Test("malformed control requests get a non-fatal error echoing their request id; what follows is answered")
    func malformedRequests() async throws {
        let cluster = try await Cluster()
        do {
            let peer = try await RawPeer(port: cluster.port)
            guard case .welcome? = try await peer.handshake(role: .admin, token: try token(cluster)) else { throw TestFailure("no welcome") }
            // Pipelined: every bad request, each followed by a good one.
            var id: UInt64 = 100
            for (_, _, build) in Self.badRequests {
                try await peer.sendBody(Self.body(id, build))
                try await peer.send(.adminRequest(.status), requestID: id + 1)
                id += 2
            }
            // A request type from a newer version: field 99 of AdminRequest.
            var unknown = Gantry_V1_Envelope()
            unknown.requestID = id
            unknown.adminRequest = try Gantry_V1_AdminRequest(serializedBytes: [0x9A, 0x06, 0x00])  // field 99, length 0
            try await peer.sendBody(try unknown.serializedBytes())
            try await peer.send(.adminRequest(.status), requestID: id + 1)

            var answers: [UInt64: WireMessage] = [:]
            for _ in 0..<(2 * Self.badRequests.count + 2) {
                guard let e = try await peer.receiveEnvelope() else { throw TestFailure("closed after \(answers.count) answers") }
                answers[e.requestID] = e.message
            }
            id = 100
            for (name, code, _) in Self.badRequests {
                guard case .error(let e, false)? = answers[id] else { Issue.record("\(name): \(String(describing: answers[id]))"); id += 2; continue }
                #expect(e.code == code, "\(name): \(e)")
                guard case .adminResponse(.status)? = answers[id + 1] else { Issue.record("\(name): the next request was not answered"); id += 2; continue }
                id += 2
            }
            guard case .error(let e, false)? = answers[id] else { throw TestFailure("newer request: \(String(describing: answers[id]))") }
            #expect(e.code == .unsupported)
            #expect(e.message.contains("field 99") && e.message.contains("upgrade gantryd"), "\(e.message)")
            guard case .adminResponse(.status)? = answers[id + 1] else { throw TestFailure("not answered after the newer request") }
            // An upper-case id is still just not found.
            try await peer.send(.adminRequest(.getJob(JobID(rawValue: 1))), requestID: 999)
            guard case .error(let nf, false)? = try await peer.receive() else { throw TestFailure("no not-found") }
            #expect(nf.code == .notFound)
            await peer.close()
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("an unknown Envelope payload: unexpected_message, non-fatal, with its request id; before the handshake: Reject{handshake_required}")
    func unknownPayload() async throws {
        let cluster = try await Cluster()
        do {
            // Field 99 of Envelope, request id 5.
            let frame: [UInt8] = [0x08, 0x05, 0x9A, 0x06, 0x00]
            let before = try await RawPeer(port: cluster.port)
            try await before.sendBody(frame)
            guard case .reject(let r)? = try await before.receiveUntilClosed().last else { throw TestFailure("no reject") }
            #expect(r.error.code == .handshakeRequired)
            let peer = try await RawPeer(port: cluster.port)
            guard case .welcome? = try await peer.handshake(role: .admin, token: try token(cluster)) else { throw TestFailure("no welcome") }
            try await peer.sendBody(frame)
            guard let e = try await peer.receiveEnvelope(), case .error(let err, false) = e.message else { throw TestFailure("no error") }
            #expect(e.requestID == 5)
            #expect(err.code == .unexpectedMessage && err.message.contains("field 99"))
            try await peer.send(.adminRequest(.status), requestID: 6)
            guard case .adminResponse(.status)? = try await peer.receive() else { throw TestFailure("connection lost") }
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("an agent's JobAccept with a malformed job id is refused; the agent stays connected")
    func agentMalformed() async throws {
        // This raw agent never heartbeats: a ttl it outlives however slow the loaded suite is
        // (with 2 s it was once lost before its second message).
        let cluster = try await Cluster(Cluster.Options(ttlMs: 30_000))
        do {
            let join = try token(cluster, "join.token")
            let agent = try await RawPeer(port: cluster.port)
            guard case .welcome? = try await agent.handshake(role: .agent, nodeID: "raw-1", token: join) else { throw TestFailure("no welcome") }
            try await agent.send(.agent(.register(Registration(nodeID: NodeID("raw-1")!, engines: [EngineStatus(name: "e", kind: .sim, models: ["m"], slots: 1)]))))
            guard case .coordinator(.registered)? = try await agent.receive() else { throw TestFailure("not registered") }
            var accept = Gantry_V1_Envelope()
            accept.jobAccept = .with { $0.jobID = "not a job id!"; $0.attempt = 1 }
            try await agent.sendBody(try accept.serializedBytes())
            guard case .error(let e, false)? = try await agent.receive() else { throw TestFailure("no error") }
            #expect(e.code == .badRequest)
            try await eventually("still ready") { try await cluster.nodeStates()["raw-1"] == "ready" }
            // And it is still heard: another bad message gets another answer.
            try await agent.sendBody(try accept.serializedBytes())
            guard case .error(_, false)? = try await agent.receive() else { throw TestFailure("connection lost") }
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("an agent restarted after a crash re-sends a result gantryd already applied: acknowledged, without a warning")
    func quietReplay() async throws {
        let cluster = try await Cluster()
        do {
            let join = try token(cluster, "join.token")
            let registration = Registration(nodeID: NodeID("raw-1")!, engines: [EngineStatus(name: "e", kind: .sim, models: ["raw-m"], slots: 1)])
            let first = try await RawPeer(port: cluster.port)
            guard case .welcome? = try await first.handshake(role: .agent, nodeID: "raw-1", token: join) else { throw TestFailure("no welcome") }
            try await first.send(.agent(.register(registration)))
            guard case .coordinator(.registered)? = try await first.receive() else { throw TestFailure("not registered") }
            let submit = try await cluster.ctl(["submit", "--model", "raw-m", "--prompt", "p", "--max-tokens", "3"])
            #expect(submit.status == 0, "\(submit.stderr)")
            guard case .coordinator(.assign(let a))? = try await first.receive() else { throw TestFailure("no assignment") }
            let now = Timestamp(unixMillis: Int64(Date().timeIntervalSince1970 * 1000))
            let result = AttemptResult(ref: a.ref, outcome: .succeeded, output: "abc", usage: Usage(promptTokens: 1, completionTokens: 3), engine: "e", startedAt: now, finishedAt: now)
            try await first.send(.agent(.accept(a.ref)))
            try await first.send(.agent(.result(result)))
            guard case .coordinator(.ack(a.ref))? = try await first.receive() else { throw TestFailure("no ack") }
            await first.close()
            // The agent "crashed" before deleting the result from its spool: it comes back
            // holding it and sends it again.
            let again = try await RawPeer(port: cluster.port)
            guard case .welcome? = try await again.handshake(role: .agent, nodeID: "raw-1", token: join) else { throw TestFailure("no welcome") }
            var back = registration
            back.spooled = [a.ref]
            try await again.send(.agent(.register(back)))
            guard case .coordinator(.registered)? = try await again.receive() else { throw TestFailure("not registered") }
            try await again.send(.agent(.result(result)))
            guard case .coordinator(.ack(a.ref))? = try await again.receive() else { throw TestFailure("no ack for the replay") }
            let job = try await cluster.ctlJSON(["jobs", "get", a.ref.job.description])
            #expect(job["state"] as? String == "succeeded")
            #expect((job["attempt_history"] as? [[String: Any]])?.count == 1)
            let log = cluster.gantryd.output
            #expect(!log.contains("stale message refused"), "\(log.suffix(2000))")
            let warnings = log.split(separator: "\n").filter { $0.contains(" warning ") && $0.contains(a.ref.job.description) }
            #expect(warnings.isEmpty, "\(warnings)")
            await again.close()
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("a correct client from an address that keeps failing the handshake still gets in")
    func penaltyLetsFriendsIn() async throws {
        let cluster = try await Cluster(Cluster.Options(handshakeTimeoutMs: 2000, extra: "[limits]\nauth_failures_per_minute = 1"))
        do {
            for _ in 0..<10 {
                let p = try await RawPeer(port: cluster.port)
                _ = try await p.handshake(role: .admin, token: "wrong")
                await p.close()
            }
            let started = Date()
            let good = try await RawPeer(port: cluster.port)
            guard case .welcome? = try await good.handshake(role: .admin, token: try token(cluster)) else { throw TestFailure("locked out") }
            // Slowed (the penalty is capped at 80 % of the 2 s handshake timeout), not
            // refused: the welcome above shows it came within the timeout. No upper bound on
            // the wall time: beside the loaded suite on two cores, connecting and the
            // handshake itself took another 1.3 s once.
            let waited = Date().timeIntervalSince(started)
            #expect(waited >= 0.9, "\(waited) s")
            await good.close()
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("global options before the subcommand work as after it")
    func globalOptionsFirst() async throws {
        let cluster = try await Cluster()
        do {
            let before = try await cluster.ctl(["--coordinator", cluster.address, "--output", "json", "status"])
            #expect(before.status == 0, "\(before.stderr)")
            #expect(before.stdout.contains("\"queue_depth\""))
            let equals = try await cluster.ctl(["--output=json", "nodes", "ls"])
            #expect(equals.status == 0, "\(equals.stderr)")
            #expect(equals.stdout.contains("\"nodes\""))
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }

    @Test("a report by tenant over 2,500 tenants comes in pages; gantryctl follows them and shows every row once, and the total")
    func reportPages() async throws {
        let cluster = try await Cluster()
        do {
            try cluster.startAgent("a", engines: Cluster.simEngine(slots: 64, ttftMs: 0, tokensPerSecond: 0))
            try await eventually("ready") { try await cluster.nodeStates()["a"] == "ready" }
            let lines = (0..<2500).map { #"{"prompt": "p", "max_tokens": 2, "tenant": "t-\#(String(format: "%04d", $0))"}"# }
            let file = try cluster.scratch.write("tenants.jsonl", lines.joined(separator: "\n") + "\n")
            let submit = try await cluster.ctl(["submit", "--model", "sim-8b", "--file", file, "--wait"], timeout: 120)
            #expect(submit.status == 0, "\(submit.stderr)")
            let report = try await cluster.ctlJSON(["report", "--by", "tenant"])
            let keys = (report["rows"] as? [[String: Any]] ?? []).compactMap { $0["key"] as? String }.filter { $0.hasPrefix("t-") }
            #expect(keys.count == 2500 && Set(keys).count == 2500 && keys == keys.sorted(), "\(keys.count) tenant rows")
            #expect((report["total"] as? [String: Any])?["attempts"] as? Int == 2500)
        } catch {
            Issue.record("\(error)\n\(cluster.logs)")
        }
        await cluster.stop()
    }
}
