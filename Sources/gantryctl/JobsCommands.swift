import ArgumentParser
import GantryCLI
import GantryControl
import GantryModel

struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, inspect, cancel, watch and explain jobs.",
        subcommands: [List.self, Get.self, Cancel.self, Watch.self, Explain.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List jobs, newest first.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only jobs in this state (queued, assigned, running, succeeded, failed, cancelled).") var state: String?
        @Option(help: "Only this tenant's jobs.") var tenant: String?
        @Option(help: "Only jobs whose current or last attempt ran on this node.") var node: String?
        @Option(help: "At most this many (gantryd sends them a page at a time; any number works).") var limit: Int = 100

        func run() async throws {
            var filter = JobFilter(tenant: tenant, limit: limit)
            if let state {
                guard let s = JobState(rawValue: state) else {
                    throw ValidationError("--state '\(state)' is not one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                filter.state = s
            }
            if let node { filter.node = try parseNodeID(node) }
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
            let (first, global, limit) = (filter, self.global, self.limit)
            try await global.withClient { client in
                var out = PagedOutput(format: global.output, key: "jobs", headers: ["JOB", "STATE", "MODEL", "TENANT", "PRIO", "NODE", "TOKENS", "SUBMITTED"])
                var filter = first
                var listed = 0
                let now = nowTimestamp()
                repeat {
                    filter.limit = limit - listed
                    let response = try await client.request(.listJobs(filter))
                    guard case .jobs(let jobs, let next) = response else { throw unexpected(response) }
                    out.page(json: jobs.map(\.json), rows: jobs.map { j in
                        [
                            j.id.description, j.state.rawValue, j.spec.model, j.spec.tenant, "\(j.spec.priority)",
                            j.node?.rawValue ?? "-", "\(j.usage.completionTokens)", ago(j.submittedAt, now: now),
                        ]
                    })
                    listed += jobs.count
                    filter.before = next
                } while listed < limit && filter.before != nil
                out.finish()
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one job, with its output.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The job id.") var job: String

        func run() async throws {
            let id = try parseJobID(job)
            let response = try await global.withClient { try await $0.request(.getJob(id)) }
            guard case .job(let j) = response else { throw unexpected(response) }
            printJob(j, global: global)
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a queued or running job.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The job id.") var job: String

        func run() async throws {
            let id = try parseJobID(job)
            let response = try await global.withClient { try await $0.request(.cancelJob(id)) }
            guard case .job(let j) = response else { throw unexpected(response) }
            if global.output == .json { global.print(j.json.render(indent: 2)) } else { global.print("job \(j.id) is \(j.state.rawValue)") }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stream a job's output until it finishes.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The job id.") var job: String

        func run() async throws {
            let id = try parseJobID(job)
            let json = global.output == .json
            let last: Job? = try await global.withClient { client in
                var last: Job?
                var printed = false
                for try await event in client.watch(id) {
                    if json {
                        print(JSONValue.object([
                            ("job", event.job.json), ("output_delta", .string(event.outputDelta)), ("final", .bool(event.final)),
                            ("output_reset", .bool(event.outputReset)),
                        ]).render())
                    } else {
                        if event.outputReset && printed {
                            // The text starts over (a retry): what was printed is not the output.
                            print("")
                            writeStderr("gantryctl: the job's output starts over (attempt \(event.job.attempts.count)); the text above is discarded\n")
                        }
                        if !event.outputDelta.isEmpty {
                            print(event.outputDelta, terminator: "")
                            fflushStdout()
                            printed = true
                        }
                    }
                    last = event.job
                }
                return last
            }
            guard let j = last else { return }
            if !json {
                print("")
                writeStderr("job \(j.id) \(j.state.rawValue): \(j.usage.promptTokens) prompt + \(j.usage.completionTokens) completion tokens\(j.error.map { "; \($0)" } ?? "")\n")
            }
            if j.state != .succeeded { throw ExitCode(1) }
        }
    }

    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show why each node can or cannot run a job, and how the chosen one scored.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The job id.") var job: String

        func run() async throws {
            let id = try parseJobID(job)
            let response = try await global.withClient { try await $0.request(.explainJob(id)) }
            guard case .explanation(let e) = response else { throw unexpected(response) }
            if global.output == .json {
                global.print(e.json.render(indent: 2))
                return
            }
            let weights = e.weights.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            var out = "job \(e.job) is \(e.jobState.rawValue); scorer weights: \(weights)\n"
            if let placed = e.placedOn {
                out += "placed on \(placed) at \(e.placedAt?.rfc3339 ?? "?"); candidates then:\n"
                out += verdictTable(e.placedCandidates).renderText()
            }
            out += "\nthe pipeline now (\(e.evaluatedAt.rfc3339)): "
            out += e.wouldChoose.map { "would choose \($0)\n" } ?? "no node can run it\n"
            out += verdictTable(e.verdicts).renderText()
            global.print(global.output == .csv ? verdictTable(e.verdicts).renderCSV() : out)
        }

        func verdictTable(_ verdicts: [NodeVerdict]) -> Table {
            Table(
                headers: ["NODE", "RESULT", "ENGINE", "SCORE", "DETAIL"],
                rows: verdicts.map { v in
                    if let r = v.rejection {
                        return [v.node.rawValue, "filtered: \(r.filter)", "-", "-", r.reason]
                    }
                    let parts = v.scores.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.1f", $0.value))" }
                    return [v.node.rawValue, "feasible", v.engine, String(format: "%.1f", v.total), parts.joined(separator: " ")]
                })
        }
    }
}

func printJob(_ j: Job, global: GlobalOptions) {
    if global.output == .json {
        global.print(j.json.render(indent: 2))
        return
    }
    var rows: [[String]] = [
        ["job", j.id.description], ["state", j.state.rawValue], ["model", j.spec.model], ["tenant", j.spec.tenant],
        ["priority", "\(j.spec.priority)"], ["node", j.node?.rawValue ?? "-"], ["attempts", "\(j.attempts.count)"],
        ["tokens", "\(j.usage.promptTokens) prompt + \(j.usage.completionTokens) completion\(j.usage.estimated ? " (estimated)" : "")"],
        ["submitted", j.submittedAt.rfc3339], ["started", j.startedAt?.rfc3339 ?? "-"], ["finished", j.finishedAt?.rfc3339 ?? "-"],
    ]
    if j.simulated { rows.append(["simulated", "yes: the output is from the built-in simulator, not a model"]) }
    if let e = j.error { rows.append(["error", e]) }
    for a in j.attempts {
        rows.append(["attempt \(a.number)", "\(a.state.rawValue) on \(a.node) (\(a.engine))\(a.error.map { ": \($0)" } ?? "")"])
    }
    let table = Table(headers: ["FIELD", "VALUE"], rows: rows)
    if global.output == .csv {
        global.print(table.renderCSV())
    } else {
        global.print(table.renderText() + "\n" + j.output)
    }
}
