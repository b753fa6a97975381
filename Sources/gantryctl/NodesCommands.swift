import ArgumentParser
import GantryControl
import GantryModel

struct Nodes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, inspect, cordon, uncordon and drain nodes.",
        subcommands: [List.self, Get.self, Cordon.self, Uncordon.self, Drain.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List nodes.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let global = self.global
            try await global.withClient { client in
                var out = PagedOutput(format: global.output, key: "nodes", headers: ["NODE", "STATE", "CPUS", "MEMORY", "GPUS", "ENGINES", "SLOTS", "$/H", "HEARTBEAT"])
                var after: NodeID?
                let now = nowTimestamp()
                repeat {
                    let response = try await client.request(.listNodes(after: after))
                    guard case .nodes(let nodes, let next) = response else { throw unexpected(response) }
                    out.page(json: nodes.map(\.json), rows: nodes.map { n in
                        [
                            n.id.rawValue, n.state.rawValue, "\(n.inventory.cpus)", bytesText(n.inventory.memoryBytes),
                            n.inventory.gpus.isEmpty ? "-" : "\(n.inventory.gpus.count)× \(n.inventory.gpus[0].name)",
                            n.engines.map { "\($0.name)\($0.healthy ? "" : "(down)")" }.joined(separator: ","),
                            "\(n.engines.reduce(0) { $0 + $1.slotsUsed })/\(n.engines.reduce(0) { $0 + $1.slots })",
                            dollarsText(n.costMicroUSDPerHour), ago(n.lastHeartbeat, now: now),
                        ]
                    })
                    after = next
                } while after != nil
                out.finish()
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one node.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The node id.") var node: String

        func run() async throws {
            let id = try parseNodeID(node)
            let response = try await global.withClient { try await $0.request(.getNode(id)) }
            guard case .node(let n) = response else { throw unexpected(response) }
            printNode(n, global: global)
        }
    }

    struct Cordon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop placing new jobs on a node.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The node id.") var node: String
        func run() async throws { try await setNode(node, .cordon, global: global) }
    }

    struct Uncordon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a cordoned or drained node take jobs again.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The node id.") var node: String
        func run() async throws { try await setNode(node, .uncordon, global: global) }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take no new jobs; the node is drained once running jobs finish.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The node id.") var node: String
        func run() async throws { try await setNode(node, .drain, global: global) }
    }
}

func setNode(_ node: String, _ action: NodeAction, global: GlobalOptions) async throws {
    let id = try parseNodeID(node)
    let response = try await global.withClient { try await $0.request(.setNode(id, action)) }
    guard case .node(let n) = response else { throw unexpected(response) }
    if global.output == .json {
        global.print(n.json.render(indent: 2))
    } else {
        global.print("node \(n.id) is \(n.state.rawValue)")
    }
}

func printNode(_ n: NodeInfo, global: GlobalOptions) {
    if global.output == .json {
        global.print(n.json.render(indent: 2))
        return
    }
    var rows: [[String]] = [
        ["node", n.id.rawValue], ["state", n.state.rawValue], ["address", n.address.ifEmpty("-")],
        ["hostname", n.inventory.hostname], ["labels", n.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",").ifEmpty("-")],
        ["cpus", "\(n.inventory.cpus) × \(n.inventory.cpuModel.ifEmpty("unknown"))"],
        ["memory", bytesText(n.inventory.memoryBytes)],
        ["gpu source", n.inventory.gpuSource.rawValue],
    ]
    for g in n.inventory.gpus {
        rows.append(["gpu \(g.index)", "\(g.name), \(bytesText(g.memoryBytes)), \(g.uuid)\(g.migEnabled ? ", MIG" : "")"])
    }
    for e in n.engines {
        rows.append([
            "engine \(e.name)",
            "\(e.kind.rawValue), models \(e.models.joined(separator: ",")), slots \(e.slotsUsed)/\(e.slots), \(e.healthy ? "healthy" : "unhealthy: \(e.healthDetail)")",
        ])
        if let t = e.telemetry { rows.append(["  telemetry", telemetryText(t)]) }
    }
    rows.append(["cost", "\(dollarsText(n.costMicroUSDPerHour))/h (\(n.cost.kind.rawValue))"])
    rows.append(["last heartbeat", ago(n.lastHeartbeat)])
    rows.append(["running attempts", "\(n.runningAttempts)"])
    let table = Table(headers: ["FIELD", "VALUE"], rows: rows)
    global.print(global.output == .csv ? table.renderCSV() : table.renderText())
}

/// "llamacpp: 2 running, 0 waiting, KV 41%, tokens 1200 prompt (300 cached) / 800 generated, scraped 1s ago".
func telemetryText(_ t: EngineTelemetry) -> String {
    func figure(_ n: Int?) -> String { n.map(String.init) ?? "?" }
    var parts = ["\(t.source?.rawValue ?? "unknown"): \(figure(t.running)) running, \(figure(t.waiting)) waiting"]
    parts.append(t.kvUsage.map { "KV \(Int(($0 * 100).rounded()))%" } ?? "KV ?")
    if let p = t.promptTokens, let g = t.generationTokens {
        parts.append("tokens \(p) prompt\(t.cachedPromptTokens.map { " (\($0) cached)" } ?? "") / \(g) generated")
    }
    parts.append(t.scrapedAt.map { "scraped \(ago($0))" } ?? "never scraped")
    if t.failures > 0 { parts.append("\(t.failures) failed scrapes in a row") }
    return parts.joined(separator: ", ")
}
