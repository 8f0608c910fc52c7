import Foundation
import XCTest

/// README, "Failure modes": a damaged plugin file is refused with exit 65 and one line naming
/// it, never a crash of the host. Truncated files, a data object as the entry, a huge file
/// without the entry, library constructors that crash, exit or hang (the pre-flight child), and
/// seeded fuzz loops over mutations of a real Swift plugin and a real C plugin.
final class PluginFileFuzzTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = try Scratch.folder()
        // The host refuses plugin files in folders writable by group or others.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: scratch.path)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// A C plugin that writes the ABI and returns NULL: refused at the handshake (65), which is
    /// "loading fine" for the fuzz. Its constructor and relocations give the loader work.
    static let cPluginSource = """
        #include <stdint.h>
        #include <stddef.h>
        #include <stdio.h>
        static int counter;
        static const char *names[] = { "a", "b", "c" };
        __attribute__((constructor)) static void start(void) { counter = 1; }
        __attribute__((destructor)) static void stop(void) { counter = 0; }
        void *aiorun_plugin_entry(uint32_t host_abi, uint32_t *plugin_abi) {
            *plugin_abi = host_abi;
            if (counter > 5) puts(names[counter % 3]);
            return NULL;
        }
        """

    // MARK: - Single defects

    /// Before: a PT_LOAD segment ending past the end of the file killed the host with SIGBUS
    /// inside dlopen (exit 135).
    func testTruncatedPluginIsRefusedNotACrash() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: Products.plugin("hello")))
        let segments = ELFTestLayout(original).loads
        let second = try XCTUnwrap(segments.dropFirst().first, "libhello.so has two PT_LOAD segments")
        // Cut inside the second loadable segment: the loader would map bytes that do not exist.
        let cut = try write("libcut.so", original.prefix(second.offset + second.fileSize / 2))
        let run = try HostRun(arguments: [Products.plugin("ticker"), cut], timeout: .seconds(30))
        XCTAssertEqual(run.status, .exited(65), run.output)
        try assertOneErrorLine(run, naming: cut, step: "check file", reason: "is cut short")
        XCTAssertFalse(run.output.contains("ready:"), run.output)
    }

    /// `library` alone is refused at the file check: exit 65 and one error line naming it and
    /// `reason`.
    @discardableResult
    private func assertRefusedAtCheck(
        _ library: String,
        reason: String,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> HostRun {
        let run = try HostRun(arguments: [library], timeout: .seconds(30))
        XCTAssertEqual(run.status, .exited(65), run.output, file: file, line: line)
        try assertOneErrorLine(run, naming: library, step: "check file", reason: reason, file: file, line: line)
        return run
    }

    /// Before: an entry that is a data object was called as a function: SIGSEGV (139).
    func testDataObjectEntryIsRefused() throws {
        let library = try cLibrary("libdataentry.so", "int aiorun_plugin_entry = 42;\n")
        try assertRefusedAtCheck(library, reason: "is a data object (STT_OBJECT), not a function")
    }

    /// A symbol typed as a function but placed in a data segment is not called either.
    func testEntryOutsideCodeIsRefused() throws {
        let library = try cLibrary(
            "libdataentryfunc.so",
            """
            __asm__(".data\\n.globl aiorun_plugin_entry\\n.type aiorun_plugin_entry, @function\\naiorun_plugin_entry: .quad 0\\n.size aiorun_plugin_entry, 8\\n.text\\n");
            """
        )
        let run = try assertRefusedAtCheck(library, reason: "(aiorun_plugin_entry), a function at 0x")
        XCTAssertTrue(run.errorLines.first?.contains("is not in an executable segment") ?? false, run.output)
    }

    /// Before: the look-alike listing read the whole file (up to 1 GiB) into memory. Now only its
    /// tables are read: the refusal is quick and the host stays small.
    func testHugeFileWithoutEntryIsRefusedWithModestMemory() throws {
        let library = try cLibrary(
            "libhuge.so",
            "void *aiorun_plugin_entry_v2(unsigned h, unsigned *p) { return 0; }\n"
        )
        XCTAssertEqual(truncate(library, 1 << 30), 0, "cannot grow the file: \(String(cString: strerror(errno)))")
        let run = try HostRun(arguments: [library], timeout: .seconds(60))
        XCTAssertEqual(run.status, .exited(65), run.output)
        try assertOneErrorLine(
            run,
            naming: library,
            step: "entry symbol",
            reason: "exports that look like entries: aiorun_plugin_entry_v2"
        )
        XCTAssertLessThan(run.maxResidentKiB, 200 << 10, "the host's peak RSS was \(run.maxResidentKiB) KiB")
        XCTAssertLessThan(run.seconds, 10, "refusing took \(run.seconds) s")
        print("1 GiB file without the entry: refused in \(run.seconds) s, host peak RSS \(run.maxResidentKiB) KiB")
    }

    // MARK: - Pre-flight

    /// No static check can see what a library constructor does. Before: a crashing constructor
    /// killed the host (139), one calling exit(0) made `--check` pass with no `ok` line (0), one
    /// that hangs hung it. Now the pre-flight child takes the blow and names the file.
    func testPreflightRefusesConstructorsThatCrashExitOrHang() throws {
        let crash = try cLibrary(
            "libctorcrash.so",
            """
            __attribute__((constructor)) static void start(void) { *(volatile int *)0 = 1; }
            void *aiorun_plugin_entry(unsigned h, unsigned *p) { *p = h; return 0; }
            """
        )
        let exits = try cLibrary(
            "libctorexit.so",
            """
            #include <stdio.h>
            #include <stdlib.h>
            __attribute__((constructor)) static void start(void) { fprintf(stderr, "constructor gives up\\n"); exit(0); }
            void *aiorun_plugin_entry(unsigned h, unsigned *p) { *p = h; return 0; }
            """
        )
        let hangs = try cLibrary(
            "libctorhang.so",
            """
            #include <unistd.h>
            __attribute__((constructor)) static void start(void) { for (;;) pause(); }
            void *aiorun_plugin_entry(unsigned h, unsigned *p) { *p = h; return 0; }
            """
        )
        let hello = Products.plugin("hello")
        let ticker = Products.plugin("ticker")

        let crashed = try HostRun(arguments: ["--check", hello, crash, ticker], timeout: .seconds(60))
        XCTAssertEqual(crashed.status, .exited(65), crashed.output)
        try assertOneErrorLine(crashed, naming: crash, step: "pre-flight", reason: "signal 11 (SIGSEGV)")
        XCTAssertFalse(crashed.output.contains("ok hello"), crashed.output)

        let exited = try HostRun(arguments: ["--check", hello, exits], timeout: .seconds(60))
        XCTAssertEqual(exited.status, .exited(65), exited.output)
        try assertOneErrorLine(exited, naming: exits, step: "pre-flight", reason: "exit(0)")
        XCTAssertTrue(exited.output.contains("constructor gives up"), exited.output)

        let hung = try HostRun(arguments: ["--check", "--load-timeout", "2", hello, hangs], timeout: .seconds(60))
        XCTAssertEqual(hung.status, .exited(65), hung.output)
        try assertOneErrorLine(hung, naming: hangs, step: "pre-flight", reason: "did not finish within")
        XCTAssertLessThan(hung.seconds, 30, hung.output)

        // A run with --preflight: refused before any plugin runs.
        let run = try HostRun(arguments: ["--preflight", hello, crash], timeout: .seconds(60))
        XCTAssertEqual(run.status, .exited(65), run.output)
        try assertOneErrorLine(run, naming: crash, step: "pre-flight", reason: "SIGSEGV")
        XCTAssertFalse(run.output.contains("hello from hello") || run.output.contains("ready:"), run.output)
    }

    /// Good plugins pass the pre-flight: a run with --preflight starts, and stops with 0.
    func testPreflightPassesGoodPlugins() throws {
        let c = try cLibrary("libcplugin.so", Self.cPluginSource)
        let check = try HostRun(
            arguments: [
                "--check", Products.plugin("hello"), "again=\(Products.plugin("hello"))", Products.plugin("ticker"),
            ],
            timeout: .seconds(60)
        )
        XCTAssertEqual(check.status, .exited(0), check.output)
        XCTAssertEqual(
            check.output.components(separatedBy: "\nok ").count + (check.output.hasPrefix("ok ") ? 1 : 0) - 1,
            3,
            check.output
        )
        let cCheck = try HostRun(arguments: ["--check", c], timeout: .seconds(60))
        XCTAssertEqual(cCheck.status, .exited(65), cCheck.output)
        try assertOneErrorLine(cCheck, naming: c, step: "handshake", reason: "returned NULL")
        let run = try HostRun(
            arguments: ["--preflight", Products.plugin("hello")],
            timeout: .seconds(60),
            terminateWhenReady: true
        )
        XCTAssertEqual(run.status, .exited(0), run.output)
        XCTAssertTrue(run.output.contains("ready: 1 plugin"), run.output)
    }

    // MARK: - Fuzz

    func testFuzzSwiftPlugin() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: Products.plugin("hello")))
        try fuzz(original, name: "hello", seed: 0x5EED_0011, mutants: 500, truncations: 60)
    }

    func testFuzzCPlugin() throws {
        let library = try cLibrary("libfuzzc.so", Self.cPluginSource)
        let original = try Data(contentsOf: URL(fileURLWithPath: library))
        try fuzz(original, name: "c", seed: 0x5EED_0C00, mutants: 500, truncations: 60)
    }

    /// `mutants` seeded mutations through `--check` (pre-flight on): each ends in 0 or 65 with
    /// one error line naming the file, never a signal, 127 or a hang. Then `truncations` cuts
    /// through a plain run without pre-flight: the static checks alone must refuse every one.
    func fuzz(_ original: Data, name: String, seed: UInt64, mutants: Int, truncations: Int) throws {
        var random = SplitMix64(seed: seed)
        let layout = ELFTestLayout(original)
        let regions = layout.fuzzRegions
        XCTAssertGreaterThan(regions.count, 6, "found too few ELF structures to aim at: \(regions.map(\.name))")
        let started = ContinuousClock.now
        var outcomes: [String: Int] = [:]
        var failures = 0
        for index in 0..<mutants {
            var bytes = [UInt8](original)
            let what: String
            if random.next(below: 5) == 0 {
                let length = 1 + random.next(below: bytes.count - 1)
                bytes.removeSubrange(length...)
                what = "truncated to \(length) bytes"
            } else {
                let region = regions[random.next(below: regions.count)]
                what = "\(region.name) mutated"
                for _ in 0...random.next(below: 4) {
                    Self.mutate(&bytes, in: region.range, structuralOnly: region.name == "relocations", &random)
                }
            }
            let path = try write("lib\(name)-\(index).so", Data(bytes))
            let run = try HostRun(arguments: ["--check", "--load-timeout", "10", path], timeout: .seconds(60))
            let outcome = Self.classify(run)
            outcomes[outcome, default: 0] += 1
            let ok: Bool
            switch run.status {
            case .exited(0): ok = run.errorLines.isEmpty
            case .exited(65): ok = run.errorLines.count == 1 && run.errorLines[0].contains("plugin \(path): ")
            default: ok = false
            }
            if !ok {
                failures += 1
                let kept = try write("kept-\(name)-\(index).so", Data(bytes))
                XCTFail(
                    "mutant \(index) (\(what)) of \(name): \(run.status) (kept as \(kept)):\n\(run.output.suffix(1500))"
                )
                if failures > 5 { break }
            } else {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
        let checkTime = ContinuousClock.now - started

        // Truncations in a plain run: the static checks alone, no pre-flight.
        var refused = 0
        for index in 0..<truncations {
            let length = 1 + random.next(below: original.count - 1)
            let path = try write("lib\(name)-cut-\(index).so", original.prefix(length))
            let run = try HostRun(arguments: [path], timeout: .seconds(30), terminateWhenReady: true)
            if run.status == .exited(65), run.errorLines.count == 1,
                run.errorLines[0].contains("plugin \(path): check file: ")
            {
                refused += 1
            } else {
                XCTFail(
                    "truncation of \(name) to \(length) bytes in a plain run: \(run.status):\n\(run.output.suffix(1500))"
                )
            }
            try? FileManager.default.removeItem(atPath: path)
        }
        let summary = outcomes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        print(
            "fuzz \(name): \(mutants) mutants through --check in \(checkTime): \(summary); \(refused)/\(truncations) truncations refused statically in plain runs; total \(ContinuousClock.now - started)"
        )
    }

    /// One change inside `range`: a flipped bit, a random byte, a special byte, or an aligned
    /// 8-byte field (an address, size or index) set to a special value.
    ///
    /// `structuralOnly` (relocation tables): only what the loader interprets, each entry's
    /// `r_offset` and `r_info` (where to write, which type and symbol), never its `r_addend`. The
    /// loader adds an addend without following it; a damaged addend is a damaged pointer in the
    /// plugin's own data, like a changed byte of its code, which no loader check can see and
    /// which crashes the plugin's code when that code runs (README, Failure modes).
    static func mutate(
        _ bytes: inout [UInt8],
        in range: Range<Int>,
        structuralOnly: Bool = false,
        _ random: inout SplitMix64
    ) {
        var at = range.lowerBound + random.next(below: range.count)
        if structuralOnly {
            let entry = (at - range.lowerBound) / 24
            at = range.lowerBound + entry * 24 + random.next(below: 16)
        }
        switch random.next(below: 4) {
        case 0: bytes[at] ^= 1 << UInt8(random.next(below: 8))
        case 1: bytes[at] = UInt8(random.next(below: 256))
        case 2: bytes[at] = [0, 0xff, 0x7f, 0x80, 1][random.next(below: 5)]
        default:
            let field = at - (at - range.lowerBound) % 8
            let values: [UInt64] = [
                0, 1, 0xffff_ffff_ffff_ffff, 0x7fff_ffff, 0x1000, UInt64(bytes.count),
                UInt64(random.next(below: 1 << 30)),
            ]
            let value = values[random.next(below: values.count)]
            for offset in 0..<8 where field + offset < range.upperBound {
                bytes[field + offset] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(offset)))
            }
        }
    }

    static func classify(_ run: HostRun) -> String {
        switch run.status {
        case .exited(0): return "loaded"
        case .exited(65):
            let line = run.errorLines.first ?? ""
            for step in [
                "check file", "pre-flight", "dlopen", "entry symbol", "handshake", "descriptor", "name", "create",
            ] where line.contains(": \(step): ") {
                return "65 at \(step)"
            }
            return "65 other"
        default: return "\(run.status)"
        }
    }

    // MARK: - Helpers

    func assertOneErrorLine(
        _ run: HostRun,
        naming path: String,
        step: String,
        reason: String,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        XCTAssertEqual(run.errorLines.count, 1, run.output, file: file, line: line)
        let message = run.errorLines.first ?? ""
        XCTAssertTrue(
            message.contains("plugin \(path): \(step): "),
            "expected step \(step) for \(path): \(message)",
            file: file,
            line: line
        )
        XCTAssertTrue(message.contains(reason), "expected \"\(reason)\": \(message)", file: file, line: line)
    }

    func write(_ name: String, _ data: Data) throws -> String {
        let url = scratch.appendingPathComponent(name)
        try data.write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        return url.path
    }

    func cLibrary(_ name: String, _ source: String) throws -> String {
        let path = try Scratch.cLibrary(name, source: source, in: scratch)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }
}

/// A seeded generator (SplitMix64), so every run mutates the same way.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func next(below bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
}
