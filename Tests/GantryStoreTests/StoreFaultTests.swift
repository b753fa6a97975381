import Foundation
import GantryStore
import GantryTestSupport
import Testing

@Suite("Store faults are loud")
struct StoreFaultTests {
    @Test("a missing state directory")
    func missing() {
        #expect(throws: StoreError.self) { try Store.open(stateDir: "/nonexistent/gantry", minFreeBytes: 0) }
        do { _ = try Store.open(stateDir: "/nonexistent/gantry", minFreeBytes: 0) } catch {
            #expect(error.message == "state directory /nonexistent/gantry does not exist (create it, or set server.state_dir / --state-dir)")
        }
    }

    @Test("a state directory that is a file")
    func notADirectory() throws {
        let dir = try StateDir()
        let file = dir.path + "/file"
        _ = FileManager.default.createFile(atPath: file, contents: Data())
        do {
            _ = try Store.open(stateDir: file, minFreeBytes: 0)
            Issue.record("opened")
        } catch {
            #expect(error.message.contains("is not a directory"))
        }
    }

    @Test("a corrupt database file")
    func corrupt() throws {
        let dir = try StateDir()
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: dir.path + "/" + Store.fileName))
        do {
            _ = try Store.open(stateDir: dir.path, minFreeBytes: 0)
            Issue.record("opened")
        } catch {
            #expect(error.message.contains(Store.fileName))
            #expect(error.message.contains("not a database") || error.message.contains("corrupt"), "\(error.message)")
        }
    }

    @Test("too little free space")
    func diskFull() throws {
        let dir = try StateDir()
        do {
            _ = try Store.open(stateDir: dir.path, minFreeBytes: UInt64.max / 2)
            Issue.record("opened")
        } catch {
            #expect(error.message.contains("MiB free"))
            #expect(error.message.contains("server.min_free_bytes"))
        }
    }

    @Test("a read-only state directory (a read-only tmpfs)", .enabled(if: TmpfsMount.possible, "needs permission to mount a tmpfs"))
    func readOnly() throws {
        let mount = try TmpfsMount(options: "ro,size=1m")
        defer { mount.unmount() }
        do {
            _ = try Store.open(stateDir: mount.path, minFreeBytes: 0)
            Issue.record("opened")
        } catch {
            #expect(error.message.hasPrefix("state directory \(mount.path) is not writable"), "\(error.message)")
            #expect(error.message.contains("Read-only file system"))
        }
    }
}
