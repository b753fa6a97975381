import ArgumentParser
import Foundation
import GantryCLI
import GantryControl
import GantryModel

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit one prompt, or a JSONL file of many.",
        discussion: """
            Each line of a JSONL file is an object with "prompt" (required) and optionally "max_tokens", \
            "tenant", "priority", "model" and "constraints" (an object of node labels, added to --constraint); \
            flags give the defaults.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "The model to run.") var model: String?
    @Option(help: "The prompt text.") var prompt: String?
    @Option(help: "A JSONL file of prompts.") var file: String?
    @Option(name: .customLong("max-tokens"), help: "Tokens to generate (default: the coordinator's).") var maxTokens: Int?
    @Option(help: "Higher runs first.") var priority: Int = 0
    @Option(help: "The tenant to account the jobs to.") var tenant: String?
    @Option(name: .customLong("constraint"), help: "A node label the job needs, KEY=VALUE (repeatable).") var constraints: [String] = []
    @Flag(help: "Wait for the jobs to finish and show their results.") var wait = false

    static let batchSize = 1000

    func validate() throws {
        if (prompt == nil) == (file == nil) { throw ValidationError("give exactly one of --prompt and --file") }
        if let maxTokens, maxTokens <= 0 { throw ValidationError("--max-tokens must be positive") }
    }

    func specs() throws -> [JobSpec] {
        var labels: Labels = [:]
        for c in constraints {
            let parts = c.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty else { throw UsageError("--constraint '\(c)' is not KEY=VALUE") }
            labels[String(parts[0])] = String(parts[1])
        }
        let base = JobSpec(model: model ?? "", prompt: "", maxTokens: maxTokens ?? 0, priority: priority, tenant: tenant ?? "", constraints: labels)
        if let prompt {
            guard model != nil else { throw UsageError("--model is required") }
            var spec = base
            spec.prompt = prompt
            return [spec]
        }
        return try PromptFile.read(file!, defaults: base)
    }

    func run() async throws {
        let specs = try specs()
        let wait = self.wait
        let progress = ProgressBar(enabled: isatty(2) == 1, total: specs.count, label: wait ? "done" : "submitted")
        let started = Date()
        let jobs: [Job] = try await global.withClient { client in
            var results: [JobID: Job] = [:]
            var order: [JobID] = []
            order.reserveCapacity(specs.count)
            for start in stride(from: 0, to: specs.count, by: Self.batchSize) {
                let batch = Array(specs[start..<min(start + Self.batchSize, specs.count)])
                if wait {
                    // The coordinator streams each job's changes after the ids.
                    let (ids, events) = try await client.submitWatching(batch)
                    order += ids
                    for try await event in events where event.final {
                        results[event.job.id] = event.job
                        progress.update(results.count)
                    }
                } else {
                    let response = try await client.request(.submit(batch))
                    guard case .submitted(let ids) = response else { throw unexpected(response) }
                    order += ids
                    progress.update(order.count)
                }
            }
            return order.map { results[$0] ?? Job(id: $0, spec: JobSpec(model: "", prompt: ""), submittedAt: .zero) }
        }
        progress.finish()
        let seconds = Date().timeIntervalSince(started)
        if !wait {
            // Table output is one id per line, so `id=$(gantryctl submit …)` works.
            switch global.output {
            case .json: global.print(JSONValue.object([("jobs", .array(jobs.map { .object([("id", .string($0.id.description))]) }))]).render(indent: 2))
            case .table: global.print(jobs.map(\.id.description).joined(separator: "\n"))
            case .csv: global.print(Table(headers: ["id"], rows: jobs.map { [$0.id.description] }).renderCSV())
            }
            writeStderr("submitted \(jobs.count) job\(jobs.count == 1 ? "" : "s") in \(String(format: "%.2f", seconds))s\n")
            return
        }
        global.emit(
            json: .object([("jobs", .array(jobs.map(\.json)))]),
            table: Table(
                headers: ["JOB", "STATE", "NODE", "TOKENS", "OUTPUT"],
                rows: jobs.map { j in
                    [
                        j.id.description, j.state.rawValue, j.node?.rawValue ?? "-",
                        "\(j.usage.promptTokens)+\(j.usage.completionTokens)\(j.usage.estimated ? "~" : "")",
                        oneLine(j.error ?? j.output, 60),
                    ]
                }))
        var counts: [JobState: Int] = [:]
        for j in jobs { counts[j.state, default: 0] += 1 }
        let tokens = jobs.reduce(0) { $0 + $1.usage.completionTokens }
        let parts = JobState.allCases.compactMap { s in counts[s].map { "\($0) \(s.rawValue)" } }
        writeStderr("\(jobs.count) job\(jobs.count == 1 ? "" : "s"): \(parts.joined(separator: ", ")); \(tokens) completion tokens in \(String(format: "%.2f", seconds))s\n")
        if jobs.contains(where: { $0.state != .succeeded }) { throw ExitCode(1) }
    }
}

/// Reads a JSONL prompts file; errors name the file and line.
enum PromptFile {
    static func read(_ path: String, defaults: JobSpec) throws -> [JobSpec] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError("cannot read \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")")
        }
        var specs: [JobSpec] = []
        for (n, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let where_ = "\(path):\(n + 1)"
            guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any] else {
                throw UsageError("\(where_): not a JSON object")
            }
            var spec = defaults
            guard let prompt = object["prompt"] as? String else { throw UsageError("\(where_): \"prompt\" is missing or not a string") }
            spec.prompt = prompt
            if let v = object["max_tokens"] {
                guard let n = (v as? NSNumber)?.intValue, n > 0 else { throw UsageError("\(where_): \"max_tokens\" must be a positive integer") }
                spec.maxTokens = n
            }
            if let v = object["priority"] {
                guard let n = (v as? NSNumber)?.intValue else { throw UsageError("\(where_): \"priority\" must be an integer") }
                spec.priority = n
            }
            if let v = object["tenant"] {
                guard let t = v as? String else { throw UsageError("\(where_): \"tenant\" must be a string") }
                spec.tenant = t
            }
            if let v = object["model"] {
                guard let m = v as? String else { throw UsageError("\(where_): \"model\" must be a string") }
                spec.model = m
            }
            if let v = object["constraints"] {
                guard let labels = v as? [String: Any], labels.values.allSatisfy({ $0 is String }) else {
                    throw UsageError("\(where_): \"constraints\" must be an object of strings, e.g. {\"pool\": \"h200\"}")
                }
                for (key, value) in labels { spec.constraints[key] = value as? String }
            }
            guard !spec.model.isEmpty else { throw UsageError("\(where_): no model (use --model or a \"model\" field)") }
            specs.append(spec)
        }
        guard !specs.isEmpty else { throw UsageError("\(path) holds no prompts") }
        return specs
    }
}

/// A one-line progress bar on stderr, drawn only on a terminal.
final class ProgressBar: @unchecked Sendable {
    let enabled: Bool
    let total: Int
    let label: String
    private var lastDrawn = -1
    private let lock = NSLock()

    init(enabled: Bool, total: Int, label: String) {
        self.enabled = enabled && total > 1
        self.total = total
        self.label = label
    }

    func update(_ done: Int) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let width = 30
        let filled = total == 0 ? width : done * width / total
        guard filled != lastDrawn || done == total else { return }
        lastDrawn = filled
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        writeStderr("\r[\(bar)] \(done)/\(total) \(label)")
    }

    func finish() {
        if enabled { writeStderr("\n") }
    }
}

func oneLine(_ s: String, _ max: Int) -> String {
    let flat = s.replacingOccurrences(of: "\n", with: " ")
    return flat.count > max ? String(flat.prefix(max - 1)) + "…" : flat
}
