import ArgumentParser
import GantryAccounting
import GantryCLI
import GantryConfig
import GantryModel
import GantryPersistence
import GantryPostgres
import GantryStore
import Logging

/// `gantryd migrate --from sqlite:PATH --to postgres:URL`: copies a stopped coordinator's
/// state (jobs with their attempts, nodes, the ledger, idle accruals, API keys) into an
/// empty PostgreSQL store, then checks the copy by counts and the ledger's totals.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a stopped coordinator's SQLite state into PostgreSQL, and verify the copy.",
        discussion: """
            Stop every gantryd first. PATH is the state directory (or its gantry.sqlite); the target
            database must hold no Gantry state yet. The password comes from --password-file.
            """)

    @Option(help: "The source: sqlite:PATH (a state directory or its gantry.sqlite).")
    var from: String

    @Option(help: "The target: postgres://USER@HOST:PORT/DATABASE (postgres: may prefix it).")
    var to: String

    @Option(name: .customLong("password-file"), help: "A file whose first line is the PostgreSQL password.")
    var passwordFile: String?

    @Option(help: "Jobs written per transaction.")
    var batch: Int = 2000

    func validate() throws {
        guard from.hasPrefix("sqlite:"), from.count > "sqlite:".count else { throw ValidationError("--from must be sqlite:PATH") }
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
    }

    func run() async throws {
        var path = String(from.dropFirst("sqlite:".count))
        if path.hasSuffix("/" + Store.fileName) { path = String(path.dropLast(Store.fileName.count + 1)) }
        let source: Store
        do {
            source = try Store.open(stateDir: path, readOnly: true)
        } catch {
            throw CommandFailure(error.message)
        }
        let url: PostgresURL
        do {
            url = try PostgresURL(parsing: to.hasPrefix("postgres:postgres") ? String(to.dropFirst("postgres:".count)) : to)
        } catch {
            throw UsageError("--to: \(error.message)")
        }
        let password = try passwordFile.map {
            String(try ConfigFile.readToken($0, purpose: "PostgreSQL password").split(whereSeparator: \.isNewline).first ?? "")
        }
        let logger = Logger(label: "gantryd.migrate")
        let target = PostgresStore(url, password: password, logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await target.client.run() }
            do {
                try await Task.sleep(for: .milliseconds(20))
                try await copy(from: source, to: target)
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }

    func copy(from source: Store, to target: PostgresStore) async throws {
        try await HighAvailability.migrate(target, logger: Logger(label: "gantryd.migrate"))
        for table in ["jobs", "ledger", "nodes", "api_keys", "idle"] where try await target.count(table) > 0 {
            throw CommandFailure("\(target.location) already holds Gantry state (its \(table) table is not empty); migrate into an empty database")
        }
        // Hold the lease while copying, so no gantryd starts leading half a copy.
        let lease = LeaderLease(store: target, instance: "gantryd migrate", address: "", ttlMs: 600_000)
        guard let epoch = try await lease.acquire() else {
            let holder = try await lease.holder()
            throw CommandFailure("a gantryd (\(holder.address)) leads on \(target.location); stop every gantryd before migrating")
        }
        target.epoch = epoch
        defer { target.epoch = nil }

        let restored = try await source.restoredState()
        var changes: [StoreChange] = restored.nodes.map { .node($0) } + restored.apiKeys.map { .apiKey($0) }
        try await target.apply(changes)
        var copied = 0
        var before: JobID?
        while true {
            let page = try source.jobs(JobFilter(limit: batch, before: before))
            guard let last = page.last else { break }
            try await target.apply(page.map { .job($0) })
            copied += page.count
            before = last.id
        }
        let ledger = try source.ledger()
        for start in stride(from: 0, to: ledger.count, by: batch * 4) {
            try await target.apply(ledger[start..<min(start + batch * 4, ledger.count)].map { .ledger($0) })
        }
        let idle = try source.idle()
        for start in stride(from: 0, to: idle.count, by: batch * 4) {
            try await target.apply(idle[start..<min(start + batch * 4, idle.count)].map { .idle($0) })
        }
        changes = []
        try await lease.release(epoch: epoch)

        // Verify: the same rows, and the same money and tokens.
        var problems: [String] = []
        for table in ["jobs", "attempts", "nodes", "ledger", "idle", "api_keys"] {
            let (a, b) = (try source.count(table), try await target.count(table))
            if a != b { problems.append("\(table): \(a) in SQLite, \(b) in PostgreSQL") }
            print("\(table.padding(toLength: 9, withPad: " ", startingAt: 0)) \(b)")
        }
        let copiedLedger = try await target.ledger()
        let (spendA, tokensA) = Self.totals(ledger)
        let (spendB, tokensB) = Self.totals(copiedLedger)
        if spendA != spendB || tokensA != tokensB {
            problems.append("ledger totals differ: \(tokensA) tokens and \(spendA) µ$ in SQLite, \(tokensB) and \(spendB) in PostgreSQL")
        }
        let idleA = idle.reduce(Int64(0)) { $0 + $1.totalMicroUSD }
        let idleB = try await target.idle().reduce(Int64(0)) { $0 + $1.totalMicroUSD }
        if idleA != idleB { problems.append("idle cost differs: \(idleA) µ$ in SQLite, \(idleB) in PostgreSQL") }
        print("ledger    \(tokensB) tokens, \(Double(spendB) / 1e6) USD; idle \(Double(idleB) / 1e6) USD")
        guard problems.isEmpty else { throw CommandFailure("the copy does not match: " + problems.joined(separator: "; ")) }
        print("copied \(source.path) to \(target.location), verified")
    }

    static func totals(_ ledger: [LedgerEntry]) -> (spend: Int64, tokens: Int64) {
        var spend: Int64 = 0
        var tokens: Int64 = 0
        for e in ledger {
            spend += e.receipt.totalMicroUSD
            tokens += Int64(e.promptTokens + e.completionTokens)
        }
        return (spend, tokens)
    }
}
