import ArgumentParser
import GantryCLI
import GantryControl
import GantryModel

struct ApiKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apikeys",
        abstract: "Create, list and revoke API keys for the OpenAI-compatible API.",
        discussion: "A key fixes its requests' tenant and priority (and may limit their models). gantryd keeps only a hash of it.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a new key and print it (it is shown only this once).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The tenant its requests belong to.") var tenant: String
        @Option(help: "Their priority (higher runs first).") var priority: Int = 0
        @Option(help: "The models it may use, comma-separated (default: any).") var models: String?
        @Option(help: "A label for people.") var name: String?
        @Option(name: .customLong("max-inflight"), help: "Requests at once (default: no limit but the queue's).") var maxInflight: Int = 0

        func run() async throws {
            guard maxInflight >= 0 else { throw ValidationError("--max-inflight must not be negative") }
            let spec = ApiKeySpec(
                tenant: tenant, priority: priority,
                models: models.map { $0.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty } } ?? [],
                name: name ?? "", maxInflight: maxInflight)
            let response = try await global.withClient { try await $0.request(.createApiKey(spec)) }
            guard case .apiKey(let key, let secret?) = response else { throw unexpected(response) }
            switch global.output {
            case .json: global.print(key.json(secret: secret).render(indent: 2))
            default:
                global.print(secret)
                writeStderr("API key \(key.id) for tenant \(key.spec.tenant) (priority \(key.spec.priority)); keep it now: gantryd does not keep it\n")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List keys (never the keys themselves).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let response = try await global.withClient { try await $0.request(.listApiKeys) }
            guard case .apiKeys(let keys) = response else { throw unexpected(response) }
            global.emit(
                json: .object([("keys", .array(keys.map { $0.json(secret: nil) }))]),
                table: Table(
                    headers: ["ID", "TENANT", "PRIO", "MODELS", "MAX-INFLIGHT", "NAME", "CREATED", "STATE"],
                    rows: keys.map { k in
                        [
                            k.id, k.spec.tenant, "\(k.spec.priority)", k.spec.models.isEmpty ? "any" : k.spec.models.joined(separator: ","),
                            k.spec.maxInflight == 0 ? "-" : "\(k.spec.maxInflight)", k.spec.name.isEmpty ? "-" : k.spec.name,
                            k.createdAt.rfc3339, k.revokedAt == nil ? "active" : "revoked",
                        ]
                    }))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key: its requests are refused from now on.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The key's id (apikeys ls).") var id: String

        func run() async throws {
            let id = self.id
            let response = try await global.withClient { try await $0.request(.revokeApiKey(id)) }
            guard case .apiKey(let key, _) = response else { throw unexpected(response) }
            if global.output == .json { global.print(key.json(secret: nil).render(indent: 2)) } else { global.print("API key \(key.id) is revoked") }
        }
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
