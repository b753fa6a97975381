import Foundation
import GantryConfig
import Testing

/// The TOML parser against toml-test's corpus (Debian's golang-github-burntsushi-toml-dev
/// ships it; scripts/test installs it): every valid document must parse to the values its
/// JSON twin lists, and every invalid one must be refused. Date-times are left out: the
/// parser refuses them on purpose (no Gantry setting takes one).
@Suite("TOML parser against the toml-test corpus")
struct TOMLCorpusTests {
    static let root = ProcessInfo.processInfo.environment["GANTRY_TOML_TEST"]
        ?? "/usr/share/gocode/src/github.com/BurntSushi/toml/internal/toml-test/tests"
    static var present: Bool { FileManager.default.fileExists(atPath: root + "/valid") }
    static var required: Bool { ProcessInfo.processInfo.environment["GANTRY_REQUIRE_TOML_TEST"] == "1" }

    static func files(_ kind: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: root + "/" + kind) else { return [] }
        return e.compactMap { $0 as? String }.filter { $0.hasSuffix(".toml") && !isDateTime($0) }.sorted()
    }

    /// Documents about date-times, which the parser does not take.
    static func isDateTime(_ path: String) -> Bool {
        if path.hasPrefix("datetime/") || path.contains("date") || path.contains("time") { return true }
        guard let text = try? String(contentsOfFile: root + "/valid/" + path.replacingOccurrences(of: ".toml", with: ".json"), encoding: .utf8)
        else { return false }
        return text.contains("\"datetime") || text.contains("\"date-local\"") || text.contains("\"time-local\"")
    }

    @Test("the corpus is there when scripts/test runs")
    func corpusPresent() {
        #expect(Self.present || !Self.required, "toml-test corpus missing at \(Self.root)")
    }

    @Test("valid documents parse to their expected values")
    func valid() throws {
        guard Self.present else { return }
        var failures: [String] = []
        let files = Self.files("valid")
        for file in files {
            let toml = try String(contentsOfFile: Self.root + "/valid/" + file, encoding: .utf8)
            let jsonPath = Self.root + "/valid/" + file.replacingOccurrences(of: ".toml", with: ".json")
            let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: jsonPath)), options: [.fragmentsAllowed])
            do {
                let table = try TOML.parse(toml)
                let got = Self.tagged(.table(table))
                if !Self.same(got, expected) { failures.append("\(file): parsed \(got), expected \(expected)") }
            } catch {
                failures.append("\(file): refused: \(error)")
            }
        }
        #expect(files.count > 50)
        #expect(failures.isEmpty, "\(failures.count) of \(files.count) valid documents:\n\(failures.joined(separator: "\n"))")
    }

    @Test("invalid documents are refused")
    func invalid() throws {
        guard Self.present else { return }
        var accepted: [String] = []
        let files = Self.files("invalid")
        for file in files {
            guard let data = FileManager.default.contents(atPath: Self.root + "/invalid/" + file) else { continue }
            // A document that is not UTF-8 is invalid TOML; the config reader refuses it before parsing.
            guard let toml = String(data: data, encoding: .utf8) else { continue }
            if (try? TOML.parse(toml)) != nil { accepted.append(file) }
        }
        #expect(files.count > 50)
        #expect(accepted.isEmpty, "\(accepted.count) of \(files.count) invalid documents were accepted:\n\(accepted.joined(separator: "\n"))")
    }

    /// toml-test's JSON encoding: tables as objects, arrays as arrays, scalars as
    /// {"type": …, "value": "…"}.
    static func tagged(_ v: TOMLValue) -> Any {
        switch v {
        case .string(let s): return ["type": "string", "value": s]
        case .integer(let i): return ["type": "integer", "value": String(i)]
        case .float(let d): return ["type": "float", "value": floatText(d)]
        case .boolean(let b): return ["type": "bool", "value": b ? "true" : "false"]
        case .array(let a): return a.map(tagged)
        case .table(let t):
            var o: [String: Any] = [:]
            for k in t.keys { o[k] = tagged(t[k]!) }
            return o
        }
    }

    static func floatText(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        return String(d)
    }

    static func same(_ a: Any, _ b: Any) -> Bool {
        switch (a, b) {
        case (let x as [String: Any], let y as [String: Any]):
            if let tx = x["type"] as? String, let ty = y["type"] as? String, x.count == 2, y.count == 2 {
                guard tx == ty, let vx = x["value"] as? String, let vy = y["value"] as? String else { return false }
                if tx == "float" { return sameFloat(vx, vy) }
                return vx == vy
            }
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { same(v, $0) } ?? false }
        case (let x as [Any], let y as [Any]):
            return x.count == y.count && zip(x, y).allSatisfy(same)
        default:
            return false
        }
    }

    static func sameFloat(_ a: String, _ b: String) -> Bool {
        let norm: (String) -> String = { $0.replacingOccurrences(of: "+", with: "") }
        if ["nan", "inf", "-inf"].contains(norm(b)) { return norm(a) == norm(b) }
        guard let x = Double(a), let y = Double(b) else { return false }
        return x == y
    }
}
