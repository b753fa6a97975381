import GantryRuntime
public import GantryConfig
public import GantryModel
import GantryNet
import Subprocess
import SystemPackage
import Foundation

/// Runs a command per job. The argv template takes `{model}` and `{max_tokens}`; the job
/// goes to the command's stdin as one JSON object; the command writes JSON lines to
/// stdout: `{"text": "…"}` for generated text, `{"usage": {"prompt_tokens": N,
/// "completion_tokens": M}}` at the end, or `{"error": "…"}`. It is sent SIGTERM (then
/// SIGKILL after 2 s) on cancel or timeout.
public struct ExecEngine: Engine {
    public let config: EngineConfig
    let maxOutputBytes: Int

    public init(config: EngineConfig, maxOutputBytes: Int = 1 << 20) {
        self.config = config
        self.maxOutputBytes = maxOutputBytes
    }

    public func probe() async -> EngineHealth {
        let program = config.command[0]
        if program.contains("/") {
            return FileManager.default.isExecutableFile(atPath: program)
                ? EngineHealth(healthy: true, detail: program) : EngineHealth(healthy: false, detail: "\(program) is not an executable file")
        }
        return EngineHealth(healthy: true, detail: program)
    }

    /// The command line for an assignment.
    func argv(for a: Assignment) -> [String] {
        config.command.map {
            $0.replacingOccurrences(of: "{model}", with: a.spec.model)
                .replacingOccurrences(of: "{max_tokens}", with: String(a.spec.maxTokens))
        }
    }

    struct Outcome: Sendable {
        var output: String = ""
        var truncated = false
        var usage: Usage?
        var error: String?
        var streamedChunks = 0
        var firstTokenAt: Timestamp?
    }

    public func run(_ a: Assignment, progress: @escaping @Sendable (JobProgress) async -> Void) async -> AttemptResult {
        let startedAt = WallClock.now()
        let argv = argv(for: a)
        let stdin = Self.jobJSON(a)
        let timeoutMs = a.spec.timeoutMs > 0 ? Int64(a.spec.timeoutMs) : config.timeoutMs
        let limit = maxOutputBytes

        enum Race: Sendable {
            case finished(Result<(Outcome, TerminationStatus, String), any Error>)
            case timedOut
        }
        let race: Race = await withTaskGroup(of: Race.self) { group in
            group.addTask {
                .finished(await Self.execute(argv: argv, stdin: stdin, limit: limit, ref: a.ref, progress: progress))
            }
            group.addTask {
                do {
                    try await Task.sleep(for: .milliseconds(timeoutMs))
                    return .timedOut
                } catch {
                    return .timedOut
                }
            }
            let first = await group.next()!
            group.cancelAll()
            if case .timedOut = first, !Task.isCancelled {
                // Wait for the command's teardown before reporting.
                _ = await group.next()
            }
            return first
        }

        let name = config.name
        if Task.isCancelled {
            return .failure(a, engine: name, startedAt: startedAt, error: "cancelled", cancelled: true)
        }
        switch race {
        case .timedOut:
            return .failure(a, engine: name, startedAt: startedAt, error: "command timed out after \(timeoutMs) ms and was killed")
        case .finished(.failure(let error)):
            return .failure(a, engine: name, startedAt: startedAt, error: "cannot run \(argv[0]): \(error)")
        case .finished(.success(let (outcome, status, stderr))):
            let usage = outcome.usage ?? Usage(promptTokens: 0, completionTokens: outcome.streamedChunks, estimated: true)
            var result = AttemptResult(
                ref: a.ref, outcome: .succeeded, output: outcome.output, usage: usage, engine: name, startedAt: startedAt,
                firstTokenAt: outcome.firstTokenAt, finishedAt: WallClock.now(), outputTruncated: outcome.truncated)
            let tail = stderr.split(separator: "\n").suffix(3).joined(separator: " | ")
            if case .exited(let code) = status, code != 0 {
                result.outcome = .failed
                result.error = "command exited with status \(code)" + (tail.isEmpty ? "" : ": \(tail)")
            } else if case .signaled(let signal) = status {
                result.outcome = .failed
                result.error = "command was killed by signal \(signal)"
            } else if let e = outcome.error {
                result.outcome = .failed
                result.error = "command reported: \(e)"
            }
            return result
        }
    }

    /// Runs the command to completion, streaming its JSON lines.
    static func execute(
        argv: [String], stdin: String, limit: Int, ref: AttemptRef, progress: @escaping @Sendable (JobProgress) async -> Void
    ) async -> Result<(Outcome, TerminationStatus, String), any Error> {
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(2))]
        do {
            let executable: Executable = argv[0].contains("/") ? .path(FilePath(argv[0])) : .name(argv[0])
            let result = try await Subprocess.run(
                executable, arguments: Arguments(Array(argv.dropFirst())), platformOptions: options,
                input: .string(stdin), output: .sequence, error: .string(limit: 64 * 1024)
            ) { execution -> Outcome in
                var outcome = Outcome()
                var buffer = OutputBuffer(limit: limit)
                var throttle = ProgressThrottle(ref: ref)
                for try await line in execution.standardOutput.strings() {
                    guard let event = ExecLine(line) else { continue }
                    switch event {
                    case .text(let t):
                        buffer.append(t)
                        outcome.streamedChunks += 1
                        if let p = throttle.add(t, tokens: 1, now: WallClock.now()) { await progress(p) }
                    case .usage(let u): outcome.usage = u
                    case .error(let e): outcome.error = e
                    }
                }
                outcome.output = buffer.text
                outcome.truncated = buffer.truncated
                outcome.firstTokenAt = throttle.firstTokenAt
                return outcome
            }
            return .success((result.closureResult, result.terminationStatus, result.standardError))
        } catch {
            return .failure(error)
        }
    }

    static func jobJSON(_ a: Assignment) -> String {
        var object: [String: Any] = [
            "job_id": a.ref.job.description, "attempt": Int(a.ref.attempt), "model": a.spec.model,
            "prompt": a.spec.prompt, "max_tokens": a.spec.maxTokens, "tenant": a.spec.tenant,
        ]
        if let t = a.spec.temperature { object["temperature"] = Double(t) }
        if let s = a.spec.seed { object["seed"] = s }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// One line of an exec engine's stdout.
enum ExecLine: Equatable {
    case text(String)
    case usage(Usage)
    case error(String)

    /// Nil for blank lines and lines that are not one of the three shapes.
    init?(_ line: String) {
        guard let data = line.data(using: .utf8), !line.isEmpty,
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { return nil }
        if let t = object["text"] as? String {
            self = .text(t)
        } else if let u = object["usage"] as? [String: Any] {
            self = .usage(Usage(
                promptTokens: (u["prompt_tokens"] as? NSNumber)?.intValue ?? 0,
                completionTokens: (u["completion_tokens"] as? NSNumber)?.intValue ?? 0, estimated: false))
        } else if let e = object["error"] as? String {
            self = .error(e)
        } else {
            return nil
        }
    }
}
