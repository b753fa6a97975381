/// Incremental parser for `text/event-stream` (the WHATWG server-sent events format):
/// feed it bytes as they arrive, take complete events' `data` payloads out.
///
/// Handles `\n`, `\r\n` and `\r` line ends, multi-line `data:` fields (joined with
/// `\n`), comments (`:`), and fields it does not use (`event:`, `id:`, `retry:`).
struct SSEParser {
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var lastWasCR = false
    /// Bytes of one event above which the stream is refused (a broken or hostile server).
    let maxEventBytes: Int

    init(maxEventBytes: Int = 4 << 20) {
        self.maxEventBytes = maxEventBytes
    }

    struct TooLarge: Error {}

    /// Adds bytes; returns the data of every event they completed, in order.
    mutating func feed<Bytes: Sequence>(_ bytes: Bytes) throws -> [String] where Bytes.Element == UInt8 {
        var events: [String] = []
        for b in bytes {
            if b == 0x0A && lastWasCR {
                lastWasCR = false
                continue
            }
            lastWasCR = b == 0x0D
            if b == 0x0A || b == 0x0D {
                if let event = endLine() { events.append(event) }
            } else {
                line.append(b)
                if line.count + data.count > maxEventBytes { throw TooLarge() }
            }
        }
        return events
    }

    /// Processes one complete line; a blank line dispatches the event.
    private mutating func endLine() -> String? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            guard hasData else { return nil }
            let event = String(decoding: data, as: UTF8.self)
            data.removeAll(keepingCapacity: true)
            hasData = false
            return event
        }
        if line[0] == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        let field = line[..<colon]
        var value = colon < line.endIndex ? line[(colon + 1)...] : []
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        if field.elementsEqual("data".utf8) {
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        }
        return nil
    }
}
