import GantryModel
import GantryWire
import NIOCore
import Testing

@Suite("Envelope mapping")
struct EnvelopeTests {
    static let node = NodeID("gpu-07")!
    static let job = JobID(unixMillis: 1_764_000_000_000, counter: 3)
    static let ref = AttemptRef(job: job, attempt: 2)
    static let t = Timestamp(unixMillis: 1_764_000_000_123)

    static let messages: [WireMessage] = [
        .hello(Hello(role: .agent, nodeID: "gpu-07", software: "test")),
        .challenge(Challenge(version: 1, nonce: Array(repeating: 7, count: 32), serverID: "gantryd")),
        .auth(mac: [1, 2, 3]),
        .welcome(Welcome(version: 1, sessionID: "s1", heartbeatIntervalMs: 1000, ttlMs: 10000, maxFrameBytes: 4096, software: "x", permission: .readOnly)),
        .reject(Reject(GantryError(.unsupportedVersion, "no"), minVersion: 1, maxVersion: 1)),
        .agent(.register(Registration(
            nodeID: node, labels: ["pool": "h200"],
            inventory: Inventory(hostname: "h", cpus: 8, cpuModel: "EPYC", memoryBytes: 1 << 30,
                gpus: [GPU(index: 0, uuid: "GPU-1", name: "NVIDIA H200", memoryBytes: 150_754_820_096, migEnabled: true)],
                gpuSource: .nvml, kernel: "6.1"),
            engines: [EngineStatus(name: "sim", kind: .sim, models: ["m"], slots: 4, slotsUsed: 1, healthy: true)],
            cost: CostProfile(kind: .owned, purchaseMicroUSD: 300_000_000_000, residualMicroUSD: 30_000_000_000, lifetimeSeconds: 126_144_000,
                overheadMicroUSDPerHour: 1_500_000, electricityMicroUSDPerKWh: 90_000, pueMilli: 1300, idleMilliwatts: 900_000, busyMilliwatts: 6_500_000),
            running: [ref], spooled: [AttemptRef(job: job, attempt: 1)], software: "a"))),
        .agent(.heartbeat(Heartbeat(
            seq: 9, sentAt: t, engines: [EngineStatus(name: "sim", kind: .sim, models: ["m"], slots: 4)],
            stats: HostStats(gpus: [GPUStats(index: 0, utilizationPercent: 50, powerMilliwatts: 700_000, energyMillijoules: 123, memoryUsedBytes: 5)],
                gpuEnergy: EnergyCounter(millijoules: 123, sources: 1), cpuEnergy: nil, load1: 0.5, memoryAvailableBytes: 7)))),
        .agent(.accept(ref)),
        .agent(.reject(ref, reason: "busy")),
        .agent(.progress(JobProgress(ref: ref, outputDelta: "hel", completionTokens: 3, firstTokenAt: t))),
        .agent(.result(AttemptResult(
            ref: ref, outcome: .succeeded, output: "hello", usage: Usage(promptTokens: 2, completionTokens: 5, estimated: true),
            engine: "sim", startedAt: t, firstTokenAt: t + 5, finishedAt: t + 9, simulated: true, energyMillijoules: 44, energyMeasured: true))),
        .coordinator(.registered(Registered(nodeID: node, state: .cordoned, cancel: [ref]))),
        .coordinator(.assign(Assignment(ref: ref, engine: "sim", spec: JobSpec(model: "m", prompt: "p", maxTokens: 8, tenant: "a", temperature: 0.5, seed: 3, timeoutMs: 9), submittedAt: t))),
        .coordinator(.cancel(ref, reason: "admin")),
        .coordinator(.ack(ref)),
        .adminRequest(.submit([JobSpec(model: "m", prompt: "p", maxTokens: 8, priority: -2, tenant: "t", constraints: ["pool": "h200"])])),
        .adminRequest(.setNode(node, .drain)),
        .adminRequest(.listJobs(JobFilter(state: .running, tenant: "t", node: node, limit: 5))),
        .adminRequest(.report(ReportQuery(by: .pool, from: t, to: t + 1000))),
        .adminResponse(.submitted([job])),
        .adminResponse(.status(ClusterStatus(software: "g", startedAt: t, nodes: [.ready: 2], jobs: [.queued: 4], queueDepth: 4, tokensPerSecond: 1.5, slotsTotal: 8, slotsUsed: 2))),
        .error(GantryError(.queueFull, "full"), fatal: false),
        .goodbye("bye"),
    ]

    @Test("every message kind survives encode and decode", arguments: messages)
    func roundTrip(_ message: WireMessage) throws {
        let envelope = WireEnvelope(message, requestID: 42)
        let decoded = try WireEnvelope(frame: envelope.encode())
        #expect(decoded == envelope)
    }

    @Test("a job survives the round trip with its attempts")
    func jobRoundTrip() throws {
        var job = Job(id: Self.job, spec: JobSpec(model: "m", prompt: "p", maxTokens: 4, tenant: "t"), submittedAt: Self.t)
        job.state = .failed
        job.attempts = [Attempt(number: 1, node: Self.node, engine: "e", state: .lost, error: "gone", assignedAt: Self.t, startedAt: Self.t + 1, finishedAt: Self.t + 2)]
        job.error = "failed after 1 attempt"
        let envelope = WireEnvelope(.adminResponse(.job(job)), requestID: 1)
        #expect(try WireEnvelope(frame: envelope.encode()) == envelope)
    }

    @Test("unknown envelope field numbers are named in the error; the envelope keeps its request id")
    func unknownField() throws {
        // Request id 5, then field 99, varint 1: a payload from a newer protocol version.
        let envelope = try WireEnvelope(frame: ByteBuffer(bytes: [0x08, 0x05, 0x98, 0x06, 0x01]))
        guard case .unreadable(let error) = envelope.message else { Issue.record("\(envelope)"); return }
        #expect(error.code == .unexpectedMessage)
        #expect(error.message.contains("field 99"))
        #expect(envelope.requestID == 5)
    }

    @Test("bytes that are not protobuf are a bad frame")
    func garbage() throws {
        #expect(throws: GantryError.self) { _ = try WireEnvelope(frame: ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])) }
        do {
            _ = try WireEnvelope(frame: ByteBuffer(bytes: [0x0A, 0x05, 0x01]))  // length-delimited field cut short
        } catch {
            #expect(error.code == .badFrame || error.code == .unexpectedMessage)
        }
    }

    @Test("invalid ids inside a valid message are bad requests naming the field")
    func badIDs() throws {
        let bad = WireEnvelope(.adminRequest(.getNode(Self.node))).encode()
        // Re-encode with an invalid node id by patching the string bytes.
        var bytes = Array(bad.readableBytesView)
        if let i = bytes.firstIndex(of: UInt8(ascii: "g")) { bytes[i] = UInt8(ascii: "/") }
        // A valid Envelope whose content this side cannot take: refused on its own, not fatal.
        guard case .unreadable(let error) = try WireEnvelope(frame: ByteBuffer(bytes: bytes)).message else {
            Issue.record("expected an unreadable message")
            return
        }
        #expect(error.code == .badRequest)
        #expect(error.message.contains("node"))
    }
}

extension WireMessage: CustomTestStringConvertible {
    public var testDescription: String { kind }
}
