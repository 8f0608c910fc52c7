import AioRunPluginAPI
import BenchStamps

#if canImport(Glibc)
import Glibc
#endif

/// readiness (issue 13): binds a TCP listener on 127.0.0.1 (`port`, default 0: any free port),
/// and reports ready right after `listen()` returns. It then writes
/// `BENCH-LISTEN at=<CLOCK_MONOTONIC ns right after listen()> port=<port>` to stdout, and keeps the
/// listener open until it is cancelled. The driver receives READY=1 on its NOTIFY_SOCKET and
/// connects to the port at that moment: readiness latency is READY=1's arrival minus `at`.
final class BenchReady: AioRunPlugin {
    let context: PluginContext
    let port: Int

    init(context: PluginContext) throws {
        self.context = context
        port = try context.config.int("port", default: 0, in: 0...65535)
    }

    func run() async throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BenchReadyError.system("socket", errno) }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw BenchReadyError.system("bind", errno) }
        guard listen(fd, 128) == 0 else { throw BenchReadyError.system("listen", errno) }
        let listening = monotonicNanos()
        context.reportReady()
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        writeLine("BENCH-LISTEN at=\(listening) port=\(UInt16(bigEndian: address.sin_port))")
        // Serve nothing: connections wait in the backlog. Until the host cancels run().
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
    }
}

enum BenchReadyError: Error, CustomStringConvertible {
    case system(String, Int32)
    var description: String {
        switch self {
        case .system(let call, let code): "\(call): \(String(cString: strerror(code)))"
        }
    }
}

@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "bench-ready", readiness: .whenReported) {
        try BenchReady(context: $0)
    }
}
