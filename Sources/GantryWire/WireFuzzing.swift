import GantryModel
import NIOCore

/// What the fuzzer (Tests/Fuzz) runs on every input, and what the regression tests replay:
/// one byte stream as a peer might send it.
///
/// - The first byte picks a split point, so the frame decoder sees the stream in two reads.
/// - Every frame the decoder yields, and the whole input as one frame body, is parsed as an
///   Envelope; a parsed Envelope must survive re-encoding unchanged (equal, or where it
///   holds a NaN, encoding to the same bytes).
/// - Every parsed message drives the server and client handshake state machines.
/// Nothing here may crash, whatever the bytes.
public enum WireFuzzing {
    static let credentials = Credentials(join: Secret("join")!, admin: Secret("admin")!, readOnly: Secret("reader")!)

    public static func exercise(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        let split = Int(bytes[0]) % bytes.count
        var decoder = FrameDecoder(maxFrameBytes: 64 * 1024)
        var buffer = ByteBuffer()
        var frames: [ByteBuffer] = []
        for chunk in [bytes[1..<max(1, split)], bytes[max(1, split)...]] {
            buffer.writeBytes(chunk)
            do {
                while let frame = try decoder.decode(buffer: &buffer) { frames.append(frame) }
            } catch {
                break
            }
        }
        _ = try? decoder.decodeLast(buffer: &buffer, seenEOF: true)
        frames.append(ByteBuffer(bytes: bytes.dropFirst()))

        var server = ServerHandshake(nonce: Array(repeating: 7, count: 32), serverID: "fuzz")
        var client = ClientHandshake(role: .agent, nodeID: "fuzz-node", token: Secret("join"), software: "fuzz")
        for frame in frames {
            guard let envelope = try? WireEnvelope(frame: frame) else { continue }
            _ = server.receive(envelope.message, credentials: credentials)
            _ = client.receive(envelope.message)
            let encoded = envelope.encode()
            let again = try? WireEnvelope(frame: encoded)
            // A NaN (a float field is any 32 bits) is never equal to itself, so fall back to
            // comparing the bytes of a second encoding.
            precondition(again == envelope || again?.encode() == encoded, "a parsed envelope changed when re-encoded: \(envelope)")
        }
    }

    /// Seed inputs: a frame of every message kind, and whole handshakes.
    public static func seeds() -> [String: [UInt8]] {
        func frame(_ m: WireMessage, _ id: UInt64 = 0) -> [UInt8] {
            let body = Array(WireEnvelope(m, requestID: id).encode().readableBytesView)
            var out = [UInt8(0)]
            withUnsafeBytes(of: UInt32(body.count).bigEndian) { out += $0 }
            return out + body
        }
        let nonce = Array(repeating: UInt8(7), count: 32)
        let ref = AttemptRef(job: JobID(unixMillis: 1_764_000_000_000, counter: 1), attempt: 1)
        var seeds: [String: [UInt8]] = [
            "hello-agent": frame(.hello(Hello(role: .agent, nodeID: "fuzz-node"))),
            "hello-admin": frame(.hello(Hello(role: .admin))),
            "agent-handshake": frame(.hello(Hello(role: .agent, nodeID: "fuzz-node")))
                + Array(frame(.auth(mac: HandshakeAuth.mac(token: Secret("join")!, role: .agent, nodeID: "fuzz-node", nonce: nonce))).dropFirst()),
            "challenge": frame(.challenge(Challenge(version: 1, nonce: nonce, serverID: "s"))),
            "welcome": frame(.welcome(Welcome(version: 1, sessionID: "s1"))),
            "register": frame(.agent(.register(Registration(nodeID: NodeID("fuzz-node")!, engines: [EngineStatus(name: "e", kind: .sim, models: ["m"], slots: 2)])))),
            "heartbeat": frame(.agent(.heartbeat(Heartbeat(seq: 1, sentAt: .zero, engines: [])))),
            "assign": frame(.coordinator(.assign(Assignment(ref: ref, engine: "e", spec: JobSpec(model: "m", prompt: "p"), submittedAt: .zero)))),
            "result": frame(.agent(.result(AttemptResult(ref: ref, outcome: .succeeded, output: "x", startedAt: .zero, finishedAt: .zero)))),
            "submit": frame(.adminRequest(.submit([JobSpec(model: "m", prompt: "p", constraints: ["pool": "a"])])), 1),
            "error": frame(.error(GantryError(.badFrame, "x"), fatal: true)),
            "oversize": [0, 0xFF, 0xFF, 0xFF, 0xFF],
            "zero-length": [0, 0, 0, 0, 0],
        ]
        seeds["truncated"] = Array(seeds["register"]!.dropLast(3))
        return seeds
    }
}
