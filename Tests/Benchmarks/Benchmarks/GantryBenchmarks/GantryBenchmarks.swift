import Benchmark
import GantryAccounting
import GantryCoordinatorCore
import GantryModel
import GantryPlacement
import GantryWire
import NIOCore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident],
        warmupIterations: 10, maxDuration: .seconds(3), maxIterations: 1_000_000)

    // MARK: wire

    let assignment = WireEnvelope(.coordinator(.assign(Assignment(
        ref: AttemptRef(job: JobID(unixMillis: 1_764_000_000_000, counter: 7), attempt: 1), engine: "sim",
        spec: JobSpec(model: "llama-3-8b", prompt: "Write a haiku about schedulers.", maxTokens: 64, tenant: "acme"),
        submittedAt: Timestamp(unixMillis: 1_764_000_000_000)))))
    Benchmark("frame encode + decode (JobAssign)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var decoder = FrameDecoder(maxFrameBytes: 1 << 22)
        for _ in benchmark.scaledIterations {
            var body = assignment.encode()
            var frame = ByteBuffer()
            frame.writeInteger(UInt32(body.readableBytes), endianness: .big)
            frame.writeBuffer(&body)
            let decoded = try decoder.decode(buffer: &frame)!
            blackHole(try WireEnvelope(frame: decoded))
        }
    }

    // MARK: placement

    for count in [1_000, 10_000, 100_000] {
        let nodes = (0..<count).map { i in
            PlacementNode(
                id: NodeID("node-\(i)")!, state: .ready, labels: ["pool": i % 2 == 0 ? "a" : "b"],
                engines: [PlacementEngine(name: "sim", models: ["m"], slots: 8, used: i % 8)])
        }
        let pipeline = PlacementPipeline.standard()
        Benchmark("placement: exhaustive pipeline over \(count) nodes", configuration: .init(maxDuration: .seconds(3))) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(pipeline.decide(nodes, for: PlacementRequest(model: "m")))
            }
        }
        // The coordinator's decision as gantryd makes it (index by model, rotating
        // candidate limit, cached placement view), without assigning.
        var prebuilt = CoordinatorCore(now: Timestamp(unixMillis: 0))
        for n in nodes {
            _ = prebuilt.agentRegistered(
                session: SessionID(UInt64(prebuilt.nodeCount + 1)), address: "", handshakeNodeID: n.id,
                registration: Registration(nodeID: n.id, labels: n.labels, engines: [EngineStatus(name: "sim", kind: .sim, models: ["m"], slots: 8)]),
                now: Timestamp(unixMillis: 0))
        }
        let cluster = prebuilt
        Benchmark(
            "placement: the coordinator's decision at \(count) nodes",
            configuration: .init(scalingFactor: .kilo, maxDuration: .seconds(3))
        ) { benchmark in
            var core = cluster
            blackHole(core.decide(PlacementRequest(model: "m")))  // the copy-on-write copy, outside the measurement
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(core.decide(PlacementRequest(model: "m")))
            }
            benchmark.stopMeasurement()
        }
    }

    // MARK: queue

    var filled = JobQueue()
    var ids = JobIDGenerator()
    let specs = (0..<16).map { JobSpec(model: "m", prompt: "", priority: $0 % 2, tenant: "t\($0 % 4)") }
    for i in 0..<1_000_000 { filled.push(ids.next(now: Timestamp(unixMillis: 1)), spec: specs[i % 16]) }
    let million = filled
    let idBase = ids
    Benchmark("queue push + pop with 1M jobs queued", configuration: .init(scalingFactor: .kilo, maxDuration: .seconds(5))) { benchmark in
        var queue = million
        var ids = idBase
        queue.push(ids.next(now: Timestamp(unixMillis: 1)), spec: specs[0])  // the copy-on-write copy, outside the measurement
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            queue.push(ids.next(now: Timestamp(unixMillis: 1)), spec: specs[i % 16])
            let (job, _) = queue.peek()!
            queue.pop(job)
        }
        benchmark.stopMeasurement()
        blackHole(queue)
    }

    // MARK: accounting

    let profile = CostProfile(
        kind: .owned, purchaseMicroUSD: 300_000_000_000, residualMicroUSD: 30_000_000_000, lifetimeSeconds: 126_144_000,
        overheadMicroUSDPerHour: 1_500_000, electricityMicroUSDPerKWh: 90_000, pueMilli: 1300, idleMilliwatts: 900_000,
        busyMilliwatts: 6_500_000)
    Benchmark("accounting: one ledger entry (slot hold, release, energy price)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var meter = NodeCostMeter(node: NodeID("gpu-1")!, pool: "h200", rates: CostRates(profile), now: Timestamp(unixMillis: 0))
        var t: Int64 = 0
        for i in benchmark.scaledIterations {
            let ref = AttemptRef(job: JobID(rawValue: UInt64(i)), attempt: 1)
            t += 3
            meter.hold(ref, now: Timestamp(unixMillis: t))
            t += 7
            let charge = meter.release(ref, now: Timestamp(unixMillis: t))
            blackHole(charge)
            blackHole(meter.price(millijoules: 40_000))
        }
    }
}
