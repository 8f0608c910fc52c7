import AioRunPluginAPI
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Appends records `<n>:<n>:<n>\n` to the file named by config `path`, n counting up from one
/// more than the records already there. Each write and its `fsync` run inside `shutdownWaitsFor`
/// (as a job on the plugin's executor pool), and only after the `fsync` does it print `ack <n>`
/// to stdout. So shutdown can never cut a record or lose an acknowledged one. It writes as fast as
/// it can, or every `interval-ms` when that is set.
final class JournalPlugin: AioRunPlugin {
    let context: PluginContext
    let path: String
    let interval: Duration?

    init(context: PluginContext) throws {
        self.context = context
        guard let path = context.config["path"], !path.isEmpty else {
            throw PluginConfigError(
                key: "path",
                value: "",
                expected: "the journal file's path (--set \(context.name).path=FILE)"
            )
        }
        self.path = path
        interval = try context.config["interval-ms"].map { _ in
            .milliseconds(try context.config.int("interval-ms", default: 0, in: 0...86_400_000))
        }
    }

    func run() async throws {
        let journal = try Journal(path: path)
        let (context, interval) = (self.context, self.interval)
        context.log.info("journal \(path) opened at record \(journal.nextNumber)")
        while true {
            let number = journal.nextNumber
            try await context.shutdownWaitsFor("append record \(number)") {
                try await context.executor.run("write+fsync record \(number)") { try journal.append() }
                print("ack \(number)")
            }
            if let interval { try await Task.sleep(for: interval) } else { await Task.yield() }
            try Task.checkCancellation()
        }
    }
}

/// The journal file. Appends run one at a time (the plugin awaits each before the next).
final class Journal: Sendable {
    /// An I/O call failed.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let fd: Int32
    let path: String
    private let counter: Counter

    /// The number the next record will carry.
    var nextNumber: Int { counter.value }

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(description: "open \(path): \(String(cString: strerror(errno)))") }
        counter = Counter(try Journal.countRecords(path) + 1)
    }

    /// Writes the next record completely and fsyncs it.
    func append() throws {
        let number = counter.value
        let bytes = Array("\(number):\(number):\(number)\n".utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw Failure(description: "write \(path): \(String(cString: strerror(errno)))") }
            offset += written
        }
        guard fsync(fd) == 0 else { throw Failure(description: "fsync \(path): \(String(cString: strerror(errno)))") }
        counter.increment()
    }

    private static func countRecords(_ path: String) throws -> Int {
        guard let file = fopen(path, "r") else { return 0 }
        defer { fclose(file) }
        var lines = 0
        while true {
            let character = getc(file)
            if character == EOF { break }
            if character == 0x0a { lines += 1 }
        }
        return lines
    }
}

/// The next record number, shared between the plugin's task and the pool thread that writes.
final class Counter: Sendable {
    private let storage: Mutex<Int>
    init(_ start: Int) { storage = Mutex(start) }
    var value: Int { storage.withLock { $0 } }
    func increment() { storage.withLock { $0 += 1 } }
}

/// The plugin's exported entry (README, "The export").
@c(aiorun_plugin_entry)
public func aiorunPluginEntry(_ hostABI: UInt32, _ pluginABI: UnsafeMutablePointer<UInt32>?) -> UnsafeMutableRawPointer?
{
    aiorunExportPlugin(hostABI: hostABI, pluginABI: pluginABI, name: "journal") { try JournalPlugin(context: $0) }
}
