import ArgumentParser
import GantryCLI
import GantryControl
import GantryModel

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the cluster at a glance.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let response = try await global.withClient { try await $0.request(.status) }
        guard case .status(let s) = response else { throw unexpected(response) }
        var rows: [[String]] = [["version", s.software]]
        if s.leaderEpoch > 0 {
            rows.append(["leader", "\(s.leaderAddress) (epoch \(s.leaderEpoch))"])
            rows.append(["standbys", s.standbys.joined(separator: ", ").ifEmpty("none")])
        }
        global.emit(json: s.json, table: Table(headers: ["FIELD", "VALUE"], rows: rows + [
            ["nodes", NodeState.allCases.compactMap { st in s.nodes[st].map { "\($0) \(st.rawValue)" } }.joined(separator: ", ").ifEmpty("none")],
            ["jobs", JobState.allCases.compactMap { st in s.jobs[st].map { "\($0) \(st.rawValue)" } }.joined(separator: ", ").ifEmpty("none")],
            ["queue", "\(s.queueDepth)"],
            ["slots", "\(s.slotsUsed)/\(s.slotsTotal) used"],
            ["tokens/s", String(Int(s.tokensPerSecond.rounded()))],
            ["up since", s.startedAt.rfc3339],
        ]))
    }
}

extension String {
    func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}

func unexpected(_ response: AdminResponse) -> any Error {
    CommandFailure("gantryd sent an unexpected answer: \(response)")
}
