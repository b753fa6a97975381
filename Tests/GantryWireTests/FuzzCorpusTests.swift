import Foundation
import GantryWire
import Testing

/// Replays the fuzzer's seed corpus and every input that ever crashed it.
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz").path

    static func files(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(fuzzDirectory)/\(dir)")) ?? [])
            .filter { !$0.hasPrefix(".") }.sorted().map { "\(fuzzDirectory)/\(dir)/\($0)" }
    }

    @Test("the committed seed corpus is what WireFuzzing.seeds() gives, and every seed runs clean")
    func seeds() throws {
        let seeds = WireFuzzing.seeds()
        if ProcessInfo.processInfo.environment["GANTRY_WRITE_FUZZ_SEEDS"] == "1" {
            for (name, bytes) in seeds { try Data(bytes).write(to: URL(fileURLWithPath: "\(Self.fuzzDirectory)/corpus/\(name)")) }
        }
        let committed = Self.files("corpus")
        #expect(committed.count == seeds.count, "regenerate with GANTRY_WRITE_FUZZ_SEEDS=1 swift test --filter FuzzCorpusTests")
        for file in committed {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
            #expect(seeds[URL(fileURLWithPath: file).lastPathComponent] == bytes)
            WireFuzzing.exercise(bytes)
        }
    }

    @Test("every input that crashed the fuzzer is fixed", arguments: files("regressions"))
    func regression(_ file: String) throws {
        WireFuzzing.exercise(try [UInt8](Data(contentsOf: URL(fileURLWithPath: file))))
    }
}
