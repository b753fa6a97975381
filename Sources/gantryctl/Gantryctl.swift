import ArgumentParser
import GantryCLI
import GantryConfig
import GantryControl
import GantryModel
import GantryNet
import GantryWire
#if canImport(Glibc)
import Glibc
#endif

@main
struct Gantryctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gantryctl",
        abstract: "Control a Gantry cluster.",
        discussion: """
            Talks to gantryd over the binary protocol, authenticated with an admin (or read-only) token.
            The coordinator address comes from --coordinator, $GANTRY_COORDINATOR, or 127.0.0.1:7420;
            the token from --token-file, $GANTRY_TOKEN_FILE, or /etc/gantry/admin.token.
            """,
        version: GantryVersion.current,
        subcommands: [Status.self, Nodes.self, Submit.self, Jobs.self, ReportCommand.self, ApiKeys.self])

    static func main() async {
        let arguments = GlobalOptions.hoisted(Array(CommandLine.arguments.dropFirst()))
        await CommandLineMain.run(Self.self, program: "gantryctl", arguments: arguments, usageErrors: [ConfigError.self])
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "gantryd's protocol address, HOST:PORT, or a comma-separated list of a leader and its standbys (default: $GANTRY_COORDINATOR or 127.0.0.1:7420).")
    var coordinator: String?

    @Option(name: .customLong("token-file"), help: "Admin or read-only token file (default: $GANTRY_TOKEN_FILE or /etc/gantry/admin.token).")
    var tokenFile: String?

    @Option(help: "table, json or csv.")
    var output: OutputFormat = .table

    @Option(name: .customLong("timeout"), help: "Seconds to wait for gantryd to answer the handshake.")
    var timeoutSeconds: Double = 5

    @Option(name: .customLong("tls-ca"), help: "Connect over TLS, trusting this CA (PEM) (default: $GANTRY_TLS_CA).")
    var tlsCA: String?

    @Option(name: .customLong("tls-cert"), help: "Client certificate for mutual TLS (PEM) (default: $GANTRY_TLS_CERT).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "Client key for mutual TLS (PEM) (default: $GANTRY_TLS_KEY).")
    var tlsKey: String?

    @Option(name: .customLong("tls-server-name"), help: "The name to verify gantryd's certificate against (default: the host).")
    var tlsServerName: String?

    /// The options above take a value each. Given before the subcommand
    /// (`gantryctl --output json nodes ls`, as with git and kubectl), they are moved after
    /// it, where the subcommand parses them.
    static let valued = ["--coordinator", "--token-file", "--output", "--timeout", "--tls-ca", "--tls-cert", "--tls-key", "--tls-server-name"]

    static func hoisted(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if valued.contains(where: { a.hasPrefix($0 + "=") }) {
                leading.append(a)
                i += 1
            } else if valued.contains(a), i + 1 < arguments.count {
                leading += [a, arguments[i + 1]]
                i += 2
            } else {
                break
            }
        }
        guard !leading.isEmpty, i < arguments.count else { return arguments }
        return Array(arguments[i...]) + leading
    }

    func tls() throws -> GantryClient.TLS? {
        let ca = tlsCA ?? environment("GANTRY_TLS_CA")
        let cert = tlsCert ?? environment("GANTRY_TLS_CERT")
        let key = tlsKey ?? environment("GANTRY_TLS_KEY")
        guard ca != nil || cert != nil else { return nil }
        if (cert == nil) != (key == nil) { throw UsageError("--tls-cert and --tls-key go together") }
        do {
            return GantryClient.TLS(context: try GantryTLS.clientContext(caFile: ca, certFile: cert, keyFile: key), serverName: tlsServerName)
        } catch {
            throw UsageError(error.description)
        }
    }

    func addresses() throws -> [HostPort] {
        let text = coordinator ?? environment("GANTRY_COORDINATOR") ?? "127.0.0.1:7420"
        do {
            return try HostPort.list(parsing: text)
        } catch {
            throw UsageError("coordinator address: \(error.message)")
        }
    }

    func token() throws -> Secret {
        let path = tokenFile ?? environment("GANTRY_TOKEN_FILE") ?? "/etc/gantry/admin.token"
        let text = try ConfigFile.readToken(path, purpose: "token")
        guard let secret = Secret(text) else { throw UsageError("token file \(path) is empty") }
        return secret
    }

    /// Connects, runs `body`, and turns protocol errors into one-line failures.
    func withClient<R: Sendable>(_ body: @escaping @Sendable (ControlClient) async throws -> R) async throws -> R {
        let addresses = try addresses()
        let token = try token()
        do {
            return try await ControlClient.withConnection(to: addresses, token: token, timeoutMs: Int64(timeoutSeconds * 1000), tls: try tls(), body)
        } catch let e as GantryError {
            switch e.code {
            case .badRequest: throw UsageError(e.message)
            default: throw CommandFailure(e.message)
            }
        }
    }

    func print(_ text: String) {
        Swift.print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
    }

    /// Prints JSON, or a table / CSV.
    func emit(json: JSONValue, table: @autoclosure () -> Table) {
        switch output {
        case .json: print(json.render(indent: 2))
        case .table: print(table().renderText())
        case .csv: print(table().renderCSV())
        }
    }
}

func environment(_ name: String) -> String? {
    guard let p = getenv(name) else { return nil }
    let s = String(cString: p)
    return s.isEmpty ? nil : s
}

func parseNodeID(_ text: String) throws -> NodeID {
    guard let id = NodeID(text) else { throw UsageError("'\(text)' is not a valid node id") }
    return id
}

func parseJobID(_ text: String) throws -> JobID {
    guard let id = JobID(text) else { throw UsageError("'\(text)' is not a job id (13 characters, as printed by submit)") }
    return id
}

/// "3.2s ago", "4m ago" for table cells.
func ago(_ t: Timestamp?, now: Timestamp = nowTimestamp()) -> String {
    guard let t else { return "-" }
    let ms = now - t
    if ms < 0 { return "now" }
    if ms < 10_000 { return String(format1(Double(ms) / 1000)) + "s ago" }
    if ms < 120_000 { return "\(ms / 1000)s ago" }
    if ms < 7_200_000 { return "\(ms / 60_000)m ago" }
    return "\(ms / 3_600_000)h ago"
}

func format1(_ d: Double) -> String {
    let r = (d * 10).rounded() / 10
    return r == r.rounded() ? "\(Int(r)).0" : "\(r)"
}

func nowTimestamp() -> Timestamp {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Timestamp(unixMillis: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
}

func bytesText(_ b: UInt64) -> String {
    let gib = Double(b) / 1_073_741_824
    if gib >= 1 { return "\(Int(gib.rounded())) GiB" }
    return "\(b / 1_048_576) MiB"
}

func dollarsText(_ micro: Int64) -> String {
    "$" + fixed(Double(micro) / 1_000_000, 2)
}

func fflushStdout() { fflush(nil) }
