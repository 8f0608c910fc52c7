import Foundation
import XCTest

/// One run of the real `aiorun-host`, spawned with `posix_spawn` and reaped with `wait4`, so that
/// its own peak memory is known (ChildProcess cannot tell); stdout and stderr go to one file.
/// Bounded: on timeout the host's process group is killed.
struct HostRun {
    enum Status: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)
        case timedOut
        var description: String {
            switch self {
            case .exited(let code): return "exit \(code)"
            case .signaled(let signal): return "signal \(signal)"
            case .timedOut: return "hung (killed at the time limit)"
            }
        }
    }

    let status: Status
    let output: String
    /// The host's peak resident set (ru_maxrss), in KiB.
    let maxResidentKiB: Int
    let seconds: Double

    /// The `aiorun-host: error:` lines.
    var errorLines: [String] {
        output.split(separator: "\n").map(String.init).filter { $0.contains("aiorun-host: error:") }
    }

    /// Runs the host with `arguments`; with `terminateWhenReady`, sends SIGTERM once it logs `ready:`.
    init(arguments: [String], timeout: Duration, terminateWhenReady: Bool = false) throws {
        var template = Array((NSTemporaryDirectory() + "/aiorun-fuzz-out-XXXXXX").utf8CString)
        let outputFD = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard outputFD >= 0 else { throw HostTestError.buildFailed("mkstemp: \(errno)") }
        let outputPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer {
            close(outputFD)
            unlink(outputPath)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))

        let argv = [Products.host.path] + arguments
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        var cEnvironment: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { for entry in cEnvironment { free(entry) } }

        let started = ContinuousClock.now
        var pid = pid_t()
        let rc = posix_spawn(&pid, Products.host.path, &actions, &attributes, &cArguments, &cEnvironment)
        guard rc == 0 else { throw HostTestError.buildFailed("posix_spawn: \(rc)") }

        let deadline = started + timeout
        var raw: Int32 = 0
        var usage = rusage()
        var status: Status?
        var terminated = false
        while status == nil {
            let done = wait4(pid, &raw, WNOHANG, &usage)
            if done == pid {
                let signal = raw & 0x7f
                status = signal == 0 ? .exited((raw >> 8) & 0xff) : .signaled(signal)
            } else if done < 0 && errno != EINTR {
                throw HostTestError.buildFailed("wait4: \(errno)")
            } else if ContinuousClock.now > deadline {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                while wait4(pid, &raw, 0, &usage) < 0 && errno == EINTR {}
                status = .timedOut
            } else {
                if terminateWhenReady, !terminated, Self.read(outputPath).contains("ready:") {
                    kill(pid, SIGTERM)
                    terminated = true
                }
                usleep(2_000)
            }
        }
        self.status = status ?? .timedOut
        let elapsed = (ContinuousClock.now - started).components
        seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        maxResidentKiB = usage.ru_maxrss
        output = Self.read(outputPath)
    }

    private static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}

/// Where the structures of an original ELF plugin are, so that mutations aim at what the loader
/// reads: the ELF header, the program headers, and the dynamic section, symbol and string
/// tables, hash tables, version tables, relocations and init/fini arrays.
struct ELFTestLayout {
    struct Load {
        let offset: Int
        let fileSize: Int
    }

    struct Region {
        let name: String
        let range: Range<Int>
    }

    let loads: [Load]
    let fuzzRegions: [Region]

    init(_ data: Data) {
        let bytes = [UInt8](data)
        func u16(_ at: Int) -> Int { at + 2 <= bytes.count ? Int(bytes[at]) | Int(bytes[at + 1]) << 8 : 0 }
        func u32(_ at: Int) -> Int { at + 4 <= bytes.count ? u16(at) | u16(at + 2) << 16 : 0 }
        func u64(_ at: Int) -> Int { at + 8 <= bytes.count ? u32(at) | u32(at + 4) << 32 : 0 }
        let programHeaders = u64(0x20)
        let programCount = u16(0x38)
        var loads: [Load] = []
        for index in 0..<programCount where u32(programHeaders + 56 * index) == 1 {
            loads.append(
                Load(offset: u64(programHeaders + 56 * index + 8), fileSize: u64(programHeaders + 56 * index + 32))
            )
        }
        self.loads = loads

        var regions = [
            Region(name: "ELF header", range: 0..<64),
            Region(name: "program headers", range: programHeaders..<programHeaders + 56 * programCount),
        ]
        let names: [Int: String] = [
            4: "relocations", 5: "hash table", 6: "dynamic section", 7: "note", 11: "dynamic symbols", 14: "init array",
            15: "fini array",
            0x6fff_fff6: "GNU hash table", 0x6fff_fffd: "version definitions", 0x6fff_fffe: "version needs",
            0x6fff_ffff: "symbol versions",
        ]
        let sections = u64(0x28)
        let sectionCount = u16(0x3C)
        for index in 0..<sectionCount {
            let base = sections + 64 * index
            let type = u32(base + 4)
            let flags = u64(base + 8)
            let offset = u64(base + 0x18)
            let size = u64(base + 0x20)
            guard size > 0, offset + size <= bytes.count else { continue }
            if let name = names[type] {
                regions.append(Region(name: name, range: offset..<offset + size))
            } else if type == 3, flags & 2 != 0 {
                regions.append(Region(name: "dynamic strings", range: offset..<offset + size))
            }
        }
        fuzzRegions = regions
    }
}
