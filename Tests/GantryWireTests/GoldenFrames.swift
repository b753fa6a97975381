import Foundation
import GantryModel
@testable import GantryWire
import NIOCore
import SwiftProtobuf
import Testing

/// The protocol is a contract: `Golden/v1.golden` holds the bytes of one of every v1
/// message (and every control request and answer), as a peer of this version sends them,
/// with their decoded form. Every test run decodes them: a change that would break a
/// deployed peer (a renumbered or retyped field, a removed message) fails here.
///
/// The file is written once per protocol version and never rewritten; new messages are
/// appended (`GANTRY_GOLDEN_APPEND=1 swift test --filter GoldenFrames` adds the ones the
/// file lacks, and leaves the rest alone).
@Suite("Golden frames: every v1 message decodes as it did")
struct GoldenFrames {
    struct Entry: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var text: String
        var testDescription: String { name }
    }

    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/v1.golden")

    static var entries: [Entry] {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        return text.components(separatedBy: "\n=== ").compactMap { block in
            var lines = block.components(separatedBy: "\n")
            let name = lines.removeFirst().replacingOccurrences(of: "=== ", with: "").trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, !name.hasPrefix("#"), let hexLine = lines.first, hexLine.hasPrefix("hex: ") else { return nil }
            let hex = Array(hexLine.dropFirst(5))
            var bytes: [UInt8] = []
            var i = 0
            while i + 1 < hex.count {
                bytes.append(UInt8(String(hex[i...(i + 1)]), radix: 16)!)
                i += 2
            }
            let decoded = lines.dropFirst().joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            return Entry(name: name, bytes: bytes, text: decoded)
        }
    }

    @Test("the golden file covers every message and request of this version")
    func coverage() throws {
        if ProcessInfo.processInfo.environment["GANTRY_GOLDEN_APPEND"] == "1" { try Self.append() }
        let have = Set(Self.entries.map(\.name))
        let missing = Self.samples.map(\.name).filter { !have.contains($0) }
        #expect(missing.isEmpty, "not in \(Self.file.lastPathComponent): \(missing) (append them with GANTRY_GOLDEN_APPEND=1)")
        #expect(have.count >= 40)
    }

    @Test("each golden frame decodes to the same fields, and to a model value", arguments: entries)
    func decodes(_ entry: Entry) throws {
        let envelope = try Gantry_V1_Envelope(serializedBytes: entry.bytes)
        #expect(envelope.textFormatString().trimmingCharacters(in: .whitespacesAndNewlines) == entry.text)
        #expect(envelope.unknownFields.data.isEmpty, "a field this version does not know")
        // And the model-level decoder takes it.
        let wire = try WireEnvelope(frame: ByteBuffer(bytes: entry.bytes))
        #expect(wire.requestID == envelope.requestID)
    }

    /// Adds the samples the golden file lacks (never rewrites an entry).
    static func append() throws {
        let have = Set(entries.map(\.name))
        var out = (try? String(contentsOf: file, encoding: .utf8)) ?? """
            # Gantry wire protocol v1: golden frames. One entry per message: the Envelope's bytes as
            # a v1 peer sends them (hex), then their protobuf text form. Never rewrite an entry.

            """
        for sample in samples where !have.contains(sample.name) {
            var buffer = sample.envelope.encode()
            let bytes = buffer.readBytes(length: buffer.readableBytes)!
            let proto = try Gantry_V1_Envelope(serializedBytes: bytes)
            out += "\n=== \(sample.name)\nhex: \(bytes.map { String(format: "%02x", $0) }.joined())\n\(proto.textFormatString())"
        }
        try out.write(to: file, atomically: true, encoding: .utf8)
    }

    static let t = Timestamp(unixMillis: 1_764_000_000_000)
    static let job = JobID(rawValue: 0x1234_5678_9ABC)
    static let ref = AttemptRef(job: job, attempt: 2)
    static let node = NodeID("gpu-07")!
    static let engine = EngineStatus(name: "llama", kind: .openai, models: ["tiny"], slots: 4, slotsUsed: 1, healthy: true, endpoint: "http://127.0.0.1:8080", healthDetail: "ok")
    static let inventory = Inventory(hostname: "gpu-07", cpus: 64, cpuModel: "EPYC", memoryBytes: 1 << 40, gpus: [GPU(index: 0, uuid: "GPU-1", name: "H200", memoryBytes: 141 << 30)], gpuSource: .nvml, kernel: "6.1")
    static let cost = CostProfile(kind: .owned, purchaseMicroUSD: 300_000_000_000, residualMicroUSD: 30_000_000_000, lifetimeSeconds: 126_144_000, overheadMicroUSDPerHour: 1_500_000, electricityMicroUSDPerKWh: 90_000, pueMilli: 1300, idleMilliwatts: 900_000, busyMilliwatts: 6_500_000)
    static let spec = JobSpec(model: "tiny", prompt: "hello", maxTokens: 16, priority: 1, tenant: "a", constraints: ["pool": "h200"], temperature: 0.5, seed: 7, timeoutMs: 60_000)
    static let receipt = Receipt(promptTokens: 3, completionTokens: 16, wallMs: 120, slotMs: 118, busyMicros: 118_000, energyMillijoules: 5000, energyMeasured: true, depreciationMicroUSD: 900, energyMicroUSD: 12, overheadMicroUSD: 50)
    static var fullJob: Job {
        var j = Job(id: job, spec: spec, submittedAt: t)
        j.state = .succeeded
        j.attempts = [Attempt(number: 1, node: node, engine: "llama", state: .lost, error: "node lost", assignedAt: t, startedAt: t + 1, finishedAt: t + 2),
                      Attempt(number: 2, node: node, engine: "llama", state: .succeeded, assignedAt: t + 3, startedAt: t + 4, finishedAt: t + 130)]
        j.output = "hello world"
        j.usage = Usage(promptTokens: 3, completionTokens: 16)
        j.startedAt = t + 1
        j.firstTokenAt = t + 10
        j.finishedAt = t + 130
        j.receipt = receipt
        return j
    }
    static let row = ReportRow(key: "gpu-07", attempts: 2, promptTokens: 3, completionTokens: 16, busyMs: 118, idleMs: 1000, spendMicroUSD: 5000, idleMicroUSD: 4000, energyMillijoules: 6000, energyMeasured: true, windowMs: 2000)
    static var telemetryEngine: EngineStatus {
        var e = engine
        e.telemetry = EngineTelemetry(
            source: .llamacpp, running: 3, waiting: 1, kvUsage: 0.375, promptTokens: 12_000, generationTokens: 8000, cachedPromptTokens: 4000,
            scrapedAt: t - 400, failures: 0, gantryRunning: 2)
        return e
    }
    static var outsideRow: ReportRow {
        var r = row
        r.outsideTokens = 640
        return r
    }
    static let nodeInfo = NodeInfo(id: node, state: .ready, labels: ["pool": "h200"], inventory: inventory, engines: [engine], cost: cost, costMicroUSDPerHour: 11_000_000, lastHeartbeat: t, connectedAt: t, address: "10.0.0.7:5000", runningAttempts: 1)

    static var samples: [(name: String, envelope: WireEnvelope)] {
        let registration = Registration(nodeID: node, labels: ["pool": "h200"], inventory: inventory, engines: [engine], cost: cost, running: [ref], spooled: [AttemptRef(job: job, attempt: 1)], software: "gantry-agent/1")
        let stats = HostStats(gpus: [GPUStats(index: 0, utilizationPercent: 50, powerMilliwatts: 300_000, energyMillijoules: 1000, memoryUsedBytes: 1 << 30)], gpuEnergy: EnergyCounter(millijoules: 1000, sources: 1), cpuEnergy: EnergyCounter(millijoules: 200, sources: 2), load1: 1.5, memoryAvailableBytes: 1 << 39, totalEnergyMillijoules: 9000, idleEnergyMillijoules: 4000, energyMeasured: true)
        let result = AttemptResult(ref: ref, outcome: .succeeded, output: "hello world", usage: Usage(promptTokens: 3, completionTokens: 16), engine: "llama", startedAt: t + 4, firstTokenAt: t + 10, finishedAt: t + 130, energyMillijoules: 5000, energyMeasured: true)
        let verdicts = [NodeVerdict(node: node, scores: ["least-loaded": 75], total: 75, engine: "llama"),
                        NodeVerdict(node: NodeID("cpu-1")!, rejection: .init(filter: "model", reason: "no engine serves model tiny"))]
        let explanation = Explanation(job: job, jobState: .running, evaluatedAt: t, verdicts: verdicts, wouldChoose: node, placedOn: node, placedCandidates: [verdicts[0]], placedAt: t + 3, weights: ["least-loaded": 1])
        return [
            ("hello-agent", WireEnvelope(.hello(Hello(minVersion: 1, maxVersion: 1, role: .agent, nodeID: "gpu-07", software: "gantry-agent/1")))),
            ("hello-admin", WireEnvelope(.hello(Hello(minVersion: 1, maxVersion: 1, role: .admin, software: "gantryctl/1")))),
            ("challenge", WireEnvelope(.challenge(Challenge(version: 1, nonce: Array(0..<32), serverID: "gantryd/1")))),
            ("auth", WireEnvelope(.auth(mac: Array(repeating: 0xAB, count: 32)))),
            ("welcome-agent", WireEnvelope(.welcome(Welcome(version: 1, sessionID: "7", heartbeatIntervalMs: 1000, ttlMs: 10_000, maxFrameBytes: 4_194_304, software: "gantryd/1")))),
            ("welcome-admin", WireEnvelope(.welcome(Welcome(version: 1, sessionID: "8", heartbeatIntervalMs: 1000, ttlMs: 10_000, maxFrameBytes: 4_194_304, software: "gantryd/1", permission: .readOnly)))),
            ("reject", WireEnvelope(.reject(Reject(GantryError(.unsupportedVersion, "no common version"), minVersion: 1, maxVersion: 1)))),
            ("register", WireEnvelope(.agent(.register(registration)))),
            ("registered", WireEnvelope(.coordinator(.registered(Registered(nodeID: node, state: .cordoned, cancel: [ref]))))),
            ("heartbeat", WireEnvelope(.agent(.heartbeat(Heartbeat(seq: 9, sentAt: t, engines: [engine], stats: stats))))),
            ("job-assign", WireEnvelope(.coordinator(.assign(Assignment(ref: ref, engine: "llama", spec: spec, submittedAt: t))))),
            ("job-accept", WireEnvelope(.agent(.accept(ref)))),
            ("job-reject", WireEnvelope(.agent(.reject(ref, reason: "no free slot")))),
            ("job-progress", WireEnvelope(.agent(.progress(JobProgress(ref: ref, outputDelta: "hel", completionTokens: 3, firstTokenAt: t + 10))))),
            ("job-result", WireEnvelope(.agent(.result(result)))),
            ("job-result-failed", WireEnvelope(.agent(.result(AttemptResult(ref: ref, outcome: .failed, error: "engine crashed", engine: "llama", startedAt: t, finishedAt: t + 5))))),
            ("job-cancel", WireEnvelope(.coordinator(.cancel(ref, reason: "cancelled by an admin")))),
            ("job-ack", WireEnvelope(.coordinator(.ack(ref)))),
            ("request-status", WireEnvelope(.adminRequest(.status), requestID: 1)),
            ("request-list-nodes", WireEnvelope(.adminRequest(.listNodes()), requestID: 2)),
            ("request-get-node", WireEnvelope(.adminRequest(.getNode(node)), requestID: 3)),
            ("request-set-node", WireEnvelope(.adminRequest(.setNode(node, .drain)), requestID: 4)),
            ("request-submit", WireEnvelope(.adminRequest(.submit([spec], watch: true)), requestID: 5)),
            ("request-list-jobs", WireEnvelope(.adminRequest(.listJobs(JobFilter(state: .running, tenant: "a", node: node, limit: 50))), requestID: 6)),
            ("request-get-job", WireEnvelope(.adminRequest(.getJob(job)), requestID: 7)),
            ("request-cancel-job", WireEnvelope(.adminRequest(.cancelJob(job)), requestID: 8)),
            ("request-watch-job", WireEnvelope(.adminRequest(.watchJob(job)), requestID: 9)),
            ("request-explain-job", WireEnvelope(.adminRequest(.explainJob(job)), requestID: 10)),
            ("request-report", WireEnvelope(.adminRequest(.report(ReportQuery(by: .tenant, from: t, to: t + 3_600_000))), requestID: 11)),
            ("response-status", WireEnvelope(.adminResponse(.status(ClusterStatus(software: "gantryd/1", startedAt: t, nodes: [.ready: 2, .lost: 1], jobs: [.queued: 5, .succeeded: 100], queueDepth: 5, tokensPerSecond: 1234.5, slotsTotal: 8, slotsUsed: 3))), requestID: 1)),
            ("response-nodes", WireEnvelope(.adminResponse(.nodes([nodeInfo])), requestID: 2)),
            ("response-node", WireEnvelope(.adminResponse(.node(nodeInfo)), requestID: 3)),
            ("response-submitted", WireEnvelope(.adminResponse(.submitted([job])), requestID: 5)),
            ("response-jobs", WireEnvelope(.adminResponse(.jobs([fullJob])), requestID: 6)),
            ("response-job", WireEnvelope(.adminResponse(.job(fullJob)), requestID: 7)),
            ("response-explanation", WireEnvelope(.adminResponse(.explanation(explanation)), requestID: 10)),
            ("response-report", WireEnvelope(.adminResponse(.report(Report(by: .node, from: t, to: t + 2000, rows: [row], total: row))), requestID: 11)),
            ("job-event", WireEnvelope(.jobEvent(JobEvent(job: fullJob, outputDelta: " world", final: true)), requestID: 9)),
            ("error", WireEnvelope(.error(GantryError(.notFound, "job 0000000000000 is not known"), fatal: false), requestID: 7)),
            ("error-fatal", WireEnvelope(.error(GantryError(.badFrame, "frame is not a valid Envelope"), fatal: true))),
            ("goodbye", WireEnvelope(.goodbye("gantryd is shutting down"))),
            // Engine telemetry (heartbeats carry what engines report; reports the tokens made outside Gantry).
            ("heartbeat-telemetry", WireEnvelope(.agent(.heartbeat(Heartbeat(seq: 10, sentAt: t, engines: [telemetryEngine], stats: stats))))),
            // High availability: a standby's answer, heartbeat acknowledgements, the leader in status.
            ("not-leader", WireEnvelope(.notLeader(address: "10.0.0.2:7420", epoch: 7, message: "this gantryd is a standby; the leader is 10.0.0.2:7420"))),
            ("register-heartbeat-acks", WireEnvelope(.agent(.register({ var r = registration; r.heartbeatAcks = true; return r }())))),
            ("registered-heartbeat-acks", WireEnvelope(.coordinator(.registered({ var r = Registered(nodeID: node, state: .ready); r.heartbeatAcks = true; return r }())))),
            ("heartbeat-ack", WireEnvelope(.coordinator(.heartbeatAck(seq: 10)))),
            ("response-status-ha", WireEnvelope(.adminResponse(.status({
                var s = ClusterStatus(software: "gantryd/1", startedAt: t, nodes: [.ready: 2], jobs: [.queued: 5], queueDepth: 5, slotsTotal: 8, slotsUsed: 3)
                s.leaderAddress = "10.0.0.2:7420"
                s.leaderEpoch = 7
                s.standbys = ["10.0.0.1:7420"]
                return s
            }())), requestID: 13)),
            ("response-report-outside", WireEnvelope(.adminResponse(.report(Report(by: .node, from: t, to: t + 2000, rows: [outsideRow], total: outsideRow))), requestID: 12)),
            // Report pages.
            ("request-report-page", WireEnvelope(.adminRequest(.report(ReportQuery(by: .tenant, from: t, to: t + 3_600_000, after: "acme", limit: 500))), requestID: 14)),
            ("response-report-page", WireEnvelope(.adminResponse(.report(Report(by: .tenant, from: t, to: t + 2000, rows: [row], total: row, next: row.key))), requestID: 14)),
        ]
    }
}
