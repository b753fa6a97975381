import Foundation
import GantryModel
import GantryWire
import Testing

@Suite("Handshake and bad input over loopback (shipped gantryd)", .serialized)
struct HandshakeIntegrationTests {
    func token(_ cluster: Cluster, _ name: String) throws -> String {
        try String(contentsOfFile: cluster.scratch.file(name), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func reject(_ messages: [WireMessage]) -> GantryError? {
        for m in messages {
            if case .reject(let r) = m { return r.error }
            if case .error(let e, _) = m { return e }
        }
        return nil
    }

    @Test("each bad handshake gets a Reject or Error naming the reason, and the daemon keeps serving")
    func badHandshakes() async throws {
        // Long enough that a starved test process still finishes a handshake step in time.
        let cluster = try await Cluster(Cluster.Options(handshakeTimeoutMs: 3000))
        let join = try token(cluster, "join.token")

        // Wrong token.
        let wrong = try await RawPeer(port: cluster.port)
        let answer = try await wrong.handshake(role: .agent, nodeID: "n1", token: "not-the-token")
        #expect(reject([answer].compactMap { $0 })?.code == .authFailed)
        #expect(try await wrong.receiveUntilClosed().isEmpty)
        // Failed handshakes are logged with the peer's address.
        _ = try await cluster.gantryd.awaitLog(#"handshake failed .*error.code=auth_failed.*peer.address=127\.0\.0\.1"#)

        // Missing token: an empty MAC.
        let missing = try await RawPeer(port: cluster.port)
        try await missing.send(.hello(Hello(role: .admin)))
        _ = try await missing.receive()
        try await missing.send(.auth(mac: []))
        #expect(reject(try await missing.receiveUntilClosed())?.message.contains("missing token") == true)

        // Unsupported version.
        let version = try await RawPeer(port: cluster.port)
        try await version.send(.hello(Hello(minVersion: 7, maxVersion: 9, role: .agent, nodeID: "n1")))
        #expect(reject(try await version.receiveUntilClosed())?.code == .unsupportedVersion)

        // A frame before Hello.
        let early = try await RawPeer(port: cluster.port)
        try await early.send(.adminRequest(.status), requestID: 1)
        #expect(reject(try await early.receiveUntilClosed())?.code == .handshakeRequired)

        // No Hello within the timeout.
        let silent = try await RawPeer(port: cluster.port)
        let started = Date()
        #expect(reject(try await silent.receiveUntilClosed())?.code == .handshakeTimeout)
        #expect(Date().timeIntervalSince(started) < 10)

        // An oversize length, and garbage.
        let big = try await RawPeer(port: cluster.port)
        try await big.sendRaw([0x7F, 0xFF, 0xFF, 0xFF])
        #expect(reject(try await big.receiveUntilClosed())?.code == .frameTooLarge)
        let http = try await RawPeer(port: cluster.port)
        try await http.sendRaw(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(reject(try await http.receiveUntilClosed())?.code == .frameTooLarge)

        // Through all that, a good agent still gets in.
        let good = try await RawPeer(port: cluster.port)
        guard case .welcome? = try await good.handshake(role: .agent, nodeID: "n1", token: join) else {
            Issue.record("good handshake failed\n\(cluster.logs)")
            return
        }
        await good.close()
        await cluster.stop()
    }

    @Test("after the handshake: unknown envelope fields are refused but the connection stays; wrong-role messages too")
    func afterHandshake() async throws {
        let cluster = try await Cluster()
        let admin = try token(cluster, "admin.token")
        let peer = try await RawPeer(port: cluster.port)
        guard case .welcome? = try await peer.handshake(role: .admin, token: admin) else { Issue.record("no welcome"); return }
        try await peer.sendRaw([0, 0, 0, 3, 0x98, 0x06, 0x01])  // an Envelope with only field 99
        guard case .error(let e, false)? = try await peer.receive() else { Issue.record("no error"); return }
        #expect(e.message.contains("field 99"))
        try await peer.send(.agent(.accept(AttemptRef(job: JobID(rawValue: 1), attempt: 1))))
        guard case .error(let e2, false)? = try await peer.receive() else { Issue.record("no error"); return }
        #expect(e2.code == .unexpectedMessage)
        try await peer.send(.adminRequest(.status), requestID: 9)
        guard case .adminResponse(.status)? = try await peer.receive() else { Issue.record("no status"); return }
        // Garbage that is not protobuf ends the connection with bad_frame.
        try await peer.sendRaw([0, 0, 0, 4, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(reject(try await peer.receiveUntilClosed())?.code == .badFrame)
        await cluster.stop()
    }

    @Test("gantryctl with a wrong token fails with one clear line; a read-only token cannot submit")
    func ctlTokens() async throws {
        let cluster = try await Cluster()
        try cluster.scratch.write("wrong.token", "nope\n")
        let wrong = try await cluster.ctl(["status"], token: "wrong.token")
        #expect(wrong.status == 1)
        #expect(wrong.stderr == "gantryctl: error: wrong token: the MAC does not match the admin token\n")
        let ro = try await cluster.ctl(["submit", "--model", "m", "--prompt", "x"], token: "readonly.token")
        #expect(ro.status == 1)
        #expect(ro.stderr.contains("read-only"))
        let list = try await cluster.ctl(["jobs", "ls"], token: "readonly.token")
        #expect(list.status == 0)
        await cluster.stop()
    }
}
