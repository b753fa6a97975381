import GantryCoordinatorCore
import GantryModel
import Testing

@Suite("Coordinator membership")
struct MembershipTests {
    @Test("a registered agent is ready and told so")
    func register() {
        var h = Harness()
        let out = h.register("gpu-1", session: 1)
        #expect(h.core.nodeState(NodeID("gpu-1")!) == .ready)
        #expect(out.contains(.send(SessionID(1), .registered(Registered(nodeID: NodeID("gpu-1")!, state: .ready)))))
    }

    @Test("a node silent for the ttl is lost, and its session closed")
    func lostAfterTTL() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        _ = h.advance(9_000)
        _ = h.heartbeat(session: 1)
        _ = h.advance(10_000)
        #expect(h.core.nodeState(NodeID("gpu-1")!) == .ready)
        let out = h.advance(1)
        #expect(h.core.nodeState(NodeID("gpu-1")!) == .lost)
        #expect(out.closedSessions == [SessionID(1)])
    }

    @Test("a dropped connection is not lost until the ttl passes")
    func disconnectWaitsForTTL() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        _ = h.core.sessionClosed(SessionID(1), now: h.now)
        _ = h.advance(5_000)
        #expect(h.core.nodeState(NodeID("gpu-1")!) == .ready)
        _ = h.advance(5_001)
        #expect(h.core.nodeState(NodeID("gpu-1")!) == .lost)
    }

    @Test("a reconnect with the same node id replaces the old session")
    func replace() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let out = h.register("gpu-1", session: 2)
        #expect(out.closedSessions == [SessionID(1)])
        // The old session's messages are no longer the node's.
        let stale = h.heartbeat(session: 1)
        #expect(stale.errors.first?.code == .unexpectedMessage)
        #expect(h.core.sessionClosed(SessionID(1), now: h.now).isEmpty)
        #expect(h.core.nodeState(NodeID("gpu-1")!) == .ready)
    }

    @Test("a lost node that comes back is ready under the same id")
    func comeBack() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        _ = h.advance(20_000)
        #expect(h.core.nodeState(NodeID("gpu-1")!) == .lost)
        h.register("gpu-1", session: 2)
        #expect(h.core.nodeState(NodeID("gpu-1")!) == .ready)
        #expect(h.core.nodeCount == 1)
    }

    @Test("cordon, uncordon and drain change the state; drained once work ends")
    func cordonDrain() {
        var h = Harness()
        h.register("gpu-1", session: 1)
        let id = NodeID("gpu-1")!
        _ = h.request(.setNode(id, .cordon))
        #expect(h.core.nodeState(id) == .cordoned)
        _ = h.request(.setNode(id, .uncordon))
        #expect(h.core.nodeState(id) == .ready)
        let (jobs, out) = h.submit()
        let ref = out.assignments[0].assignment.ref
        _ = h.request(.setNode(id, .drain))
        #expect(h.core.nodeState(id) == .draining)
        // No new work while draining.
        let (more, out2) = h.submit()
        #expect(out2.assignments.isEmpty)
        _ = h.result(ref, session: 1)
        #expect(h.job(jobs[0]).state == .succeeded)
        #expect(h.core.nodeState(id) == .drained)
        #expect(h.job(more[0]).state == .queued)
        let (_, out3) = h.request(.setNode(id, .uncordon))
        #expect(out3.assignments.count == 1)
    }

    @Test("unknown nodes are not found")
    func unknownNode() {
        var h = Harness()
        let (r, _) = h.request(.getNode(NodeID("nope")!))
        guard case .failure(let e)? = r else { Issue.record("\(String(describing: r))"); return }
        #expect(e.code == .notFound)
    }

    @Test("agent messages before Register are refused")
    func beforeRegister() {
        var h = Harness()
        let out = h.heartbeat(session: 9)
        #expect(out.errors.first?.code == .unexpectedMessage)
    }

    @Test("heartbeats are acknowledged to agents that ask (and only to them), and Registered says so")
    func heartbeatAcks() {
        var h = Harness()
        var reg = Registration(nodeID: NodeID("new")!, engines: [EngineStatus(name: "e", kind: .sim, models: ["m"], slots: 2)])
        reg.heartbeatAcks = true
        let out = h.core.agentRegistered(session: SessionID(1), address: "127.0.0.1:1", handshakeNodeID: NodeID("new"), registration: reg, now: h.now)
        let registered = out.unwrapped.compactMap { d -> Registered? in if case .send(_, .registered(let r)) = d { r } else { nil } }
        #expect(registered.first?.heartbeatAcks == true)
        let beat = h.heartbeat(session: 1)
        #expect(beat.unwrapped.contains { if case .send(SessionID(1), .heartbeatAck(seq: 1)) = $0 { true } else { false } })
        h.register("old", session: 2)
        #expect(!h.heartbeat(session: 2).unwrapped.contains { if case .send(_, .heartbeatAck) = $0 { true } else { false } })
    }

    @Test("a heartbeat whose engine serves other models files the node under the new ones: jobs for the old model wait, the new one's are placed")
    func heartbeatChangesModels() {
        var h = Harness()
        h.register("gpu-1", session: 1, models: ["m"])
        _ = h.core.agentMessage(
            .heartbeat(Heartbeat(seq: 1, sentAt: h.now, engines: [EngineStatus(name: "e", kind: .sim, models: ["m2"], slots: 2)])),
            session: SessionID(1), now: h.now)
        let (old, oldOut) = h.submit(model: "m")
        #expect(oldOut.assignments.isEmpty)
        #expect(h.job(old[0]).state == .queued)
        let (new, newOut) = h.submit(model: "m2")
        #expect(newOut.assignments.map(\.assignment.ref.job) == new)
    }
}
