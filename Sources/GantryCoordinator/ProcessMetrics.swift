import Metrics
#if canImport(Glibc)
import Glibc
#endif

/// The standard Prometheus process metrics, read from /proc on each scrape.
enum ProcessMetrics {
    /// When this process started (first touched at start-up), in Unix seconds.
    static let startTime: Double = {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }()

    static func refresh() {
        Gauge(label: "process_start_time_seconds").record(startTime)
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = read("/proc/self/stat"), let close = stat.lastIndex(of: ")") {
            // Fields after the command name; utime and stime are fields 14 and 15 overall.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) {
                Gauge(label: "process_cpu_seconds_total").record((utime + stime) / ticks)
            }
        }
        if let statm = read("/proc/self/statm")?.split(separator: " "), statm.count > 1,
            let virtual = Double(statm[0]), let resident = Double(statm[1])
        {
            Gauge(label: "process_virtual_memory_bytes").record(virtual * page)
            Gauge(label: "process_resident_memory_bytes").record(resident * page)
        }
        if let dir = opendir("/proc/self/fd") {
            var n = 0
            while readdir(dir) != nil { n += 1 }
            closedir(dir)
            Gauge(label: "process_open_fds").record(max(0, n - 3))  // ".", ".." and the directory itself
        }
    }

    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}
