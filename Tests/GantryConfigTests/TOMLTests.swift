import GantryConfig
import Testing

@Suite("TOML parser")
struct TOMLTests {
    @Test("scalars, strings, arrays, tables and arrays of tables")
    func document() throws {
        let t = try TOML.parse(#"""
            # comment
            title = "gantry" # trailing comment
            n = 1_000
            hex = 0xff
            neg = -17
            f = 6.5e2
            yes = true
            lit = 'C:\path\no escape'
            esc = "tab\there \u00e9 \"q\""
            multi = """
            line one
            line two\
              joined"""
            raw = '''
            keep \n as is'''
            list = [1, 2,
              3, ] # trailing comma
            nested = [[1], ["a"]]
            inline = { a = 1, b.c = "d" }
            "quoted key" = 1
            dotted.key = 2

            [server]
            listen = "127.0.0.1:7420"

            [a.b.c]
            x = 1

            [[engine]]
            name = "one"
            [[engine]]
            name = "two"
            [engine.extra]
            k = "v"
            """#)
        #expect(t["title"] == .string("gantry"))
        #expect(t["n"] == .integer(1000))
        #expect(t["hex"] == .integer(255))
        #expect(t["neg"] == .integer(-17))
        #expect(t["f"] == .float(650))
        #expect(t["yes"] == .boolean(true))
        #expect(t["lit"] == .string(#"C:\path\no escape"#))
        #expect(t["esc"] == .string("tab\there é \"q\""))
        #expect(t["multi"] == .string("line one\nline twojoined"))
        #expect(t["raw"] == .string(#"keep \n as is"#))
        #expect(t["list"] == .array([.integer(1), .integer(2), .integer(3)]))
        #expect(t["nested"] == .array([.array([.integer(1)]), .array([.string("a")])]))
        guard case .table(let inline)? = t["inline"], case .table(let b)? = inline["b"] else { Issue.record("inline"); return }
        #expect(inline["a"] == .integer(1) && b["c"] == .string("d"))
        #expect(t["quoted key"] == .integer(1))
        guard case .table(let dotted)? = t["dotted"] else { Issue.record("dotted"); return }
        #expect(dotted["key"] == .integer(2))
        guard case .table(let a)? = t["a"], case .table(let bb)? = a["b"], case .table(let c)? = bb["c"] else { Issue.record("a.b.c"); return }
        #expect(c["x"] == .integer(1))
        guard case .array(let engines)? = t["engine"], engines.count == 2, case .table(let second) = engines[1],
            case .table(let extra)? = second["extra"]
        else { Issue.record("engine"); return }
        #expect(second["name"] == .string("two") && extra["k"] == .string("v"))
        #expect(t.lines["title"] == 2)
    }

    @Test("errors carry line and column and say what is wrong", arguments: [
        ("a = 1\na = 2", 2, "duplicate key a"),
        ("[t]\n[t]", 2, "defined more than once"),
        ("a = \"unterminated", 1, "unterminated string"),
        ("a = hello", 1, "strings need quotes"),
        ("a = 1 b = 2", 1, "expected the end of the line"),
        ("a = 2026-11-29", 1, "dates and times are not supported"),
        ("a = 01", 1, "not a valid value"),
        ("a = 1__0", 1, "not a valid value"),
        ("a = [1, 2", 1, "unterminated array"),
        ("a = { b = 1", 1, "inline table"),
        ("= 1", 1, "expected a key"),
        ("a = \"\\q\"", 1, "invalid escape"),
        ("a = 1\n[a]", 2, "already a value"),
        ("a.b = 1\n[a]", 2, "defined more than once"),
        ("x = 99999999999999999999", 1, "not a valid value"),
    ])
    func errors(_ input: String, _ line: Int, _ fragment: String) {
        do {
            _ = try TOML.parse(input)
            Issue.record("parsed: \(input)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.message.contains(fragment), "\(error)")
        }
    }

    @Test("CRLF line endings and a BOM are accepted")
    func crlf() throws {
        let t = try TOML.parse("\u{FEFF}a = 1\r\n[b]\r\nc = \"x\"\r\n")
        #expect(t["a"] == .integer(1))
    }
}
