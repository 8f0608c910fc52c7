import Foundation
import XCTest

/// Config files (README, "Command line" and "Failure modes"): whatever bytes `--config` names,
/// the host ends with 0 or with one usage-error line naming the file (64), never a crash or a
/// hang; the file is read once, so `/dev/stdin` works; lookups stay fast with many keys.
final class ConfigFileFuzzTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = try Scratch.folder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// The seed of the fuzz loop; change it to explore, keep it fixed in CI.
    static let seed: UInt64 = 0xA10_C0F1

    // MARK: - Crashers and fuzz

    /// The inputs that aborted the host inside the TOML library (134) are usage errors naming
    /// the file and the line; so are invalid UTF-8 and NULs.
    func testKnownCrashersAreUsageErrorsNamingFileAndLine() throws {
        let expectedLines: [String: String] = [
            "open bracket, newline": ":1:", "double bracket, newline": ":1:", "bracket, comment": ":1:",
            "double bracket, comment": ":1:", "bracket after a key": ":2:", "header with 0xFF": ":1:",
            "array header with 0xFE": ":1:", "NUL after a key": ":2:", "NUL in a header": ":1:",
            "CR line ends": ":2:", "bracket, tab, newline": ":1:", "very deep dotted key": ":2:",
            "very deep dotted header": ":1:",
        ]
        for (index, input) in ConfigFuzzInputs.knownCrashers.enumerated() {
            let outcome = try check(input.bytes, name: "crasher\(index)", label: input.name)
            if let line = expectedLines[input.name] {
                XCTAssertEqual(outcome.code, 64, "\(input.name): \(outcome.output)")
                XCTAssertTrue(
                    outcome.errorLine?.contains("\(outcome.path)\(line)") == true,
                    "\(input.name): expected \(line) in \(outcome.output)"
                )
            }
        }
    }

    /// A seeded loop over random bytes, random TOML tokens and mutations of examples/aiorun.toml
    /// and of small valid files: every run ends with 0, or 64 and one line naming the file.
    func testFuzzedConfigFilesNeverCrashOrHang() throws {
        let example = try Data(contentsOf: Products.repositoryRoot.appendingPathComponent("examples/aiorun.toml"))
        let bases =
            [Array(example)] + ConfigFuzzInputs.validBases(helloPath: Products.plugin("hello")).map { Array($0.utf8) }
        for (index, base) in bases.enumerated() {
            XCTAssertEqual(
                try check(base, name: "base\(index)", label: "base \(index) unchanged").code,
                0,
                "base \(index) must be valid"
            )
        }
        let inputs = ConfigFuzzInputs.generate(count: 640, seed: Self.seed, bases: bases)
        var codes: [Int32: Int] = [:]
        var reasons: [String: Int] = [:]
        let started = ContinuousClock.now
        for (index, input) in inputs.enumerated() {
            let outcome = try check(input.bytes, name: "fuzz\(index)", label: "seed \(Self.seed) \(input.name)")
            codes[outcome.code, default: 0] += 1
            if let line = outcome.errorLine?.components(separatedBy: outcome.path).last {
                // The reason's first words, without the line number: what kinds of errors the loop reached.
                let words = line.split(separator: " ").dropFirst().prefix(4).joined(separator: " ")
                reasons[words, default: 0] += 1
            }
        }
        print(
            "config fuzz: \(inputs.count) inputs in \(ContinuousClock.now - started), exit codes \(codes.sorted { $0.key < $1.key })"
        )
        for (reason, count) in reasons.sorted(by: { $0.value > $1.value }).prefix(12) { print("  \(count)× \(reason)") }
        let contained = reasons.filter { $0.key.hasPrefix("the TOML reader crashed") }.values.reduce(0, +)
        print("  crashes of the TOML reader contained in its child: \(contained)")
    }

    /// Runs `aiorun-host --check --config <bytes> fuzzed=<hello>` and checks the outcome: 0, 64 with one
    /// line naming the file, or 65 with one line naming a plugin the file loads (a mutation can
    /// give a plugin config that its initializer rejects); never a signal, never a hang.
    @discardableResult
    private func check(
        _ bytes: [UInt8],
        name: String,
        label: String,
        file: StaticString = #filePath,
        line: UInt = #line
    )
        throws -> (code: Int32, output: String, path: String, errorLine: String?)
    {
        let url = scratch.appendingPathComponent("\(name).toml")
        try Data(bytes).write(to: url)
        // An alias that no base file uses, so the command line's plugin never clashes with the file's.
        let host = try ChildProcess.host(["--check", "--config", url.path, "fuzzed=\(Products.plugin("hello"))"])
        let code = try host.waitForExit(within: .seconds(60), file: file, line: line).code
        let described = "\(label): \(ConfigFuzzInputs.describe(bytes))\n\(host.transcript)"
        let naming = host.lines(containing: url.path)
        switch code {
        case 0:
            XCTAssertFalse(host.lines(containing: "ok fuzzed").isEmpty, described, file: file, line: line)
        case 64:
            XCTAssertEqual(naming.count, 1, "one line must name the file; \(described)", file: file, line: line)
        case 65:
            let rejected = host.lines(containing: "aiorun-host: error: plugin ")
            XCTAssertEqual(rejected.count, 1, described, file: file, line: line)
            XCTAssertTrue(
                rejected.first.map {
                    $0.contains(": create: ") || $0.contains(": name: ") || $0.contains(": check file: ")
                } == true,
                described,
                file: file,
                line: line
            )
        default:
            XCTFail("exit \(code) (0 or 64 expected, a signal is 128+N); \(described)", file: file, line: line)
        }
        XCTAssertNil(host.index(of: "Backtrac"), described, file: file, line: line)
        try? FileManager.default.removeItem(at: url)
        return (code, host.transcript, url.path, naming.first)
    }

    /// A key with a newline, a terminal escape or a bidi override (written as TOML escapes) gives
    /// one line with those characters escaped: the message can neither split nor repaint the
    /// terminal.
    func testControlCharactersInMessagesAreEscaped() throws {
        let url = scratch.appendingPathComponent("control.toml")
        try #"""
        log-level = "info"
        "a\nb\u001b[31mred\u202e" = 1
        """#.write(to: url, atomically: true, encoding: .utf8)
        let host = try ChildProcess.host(["--check", "--config", url.path, Products.plugin("hello")])
        try host.expectExit(64, within: .seconds(30))
        let naming = host.lines(containing: url.path)
        XCTAssertEqual(naming.count, 1, host.transcript)
        XCTAssertTrue(naming.first?.contains(#":2: unknown key "a\nb\u{1B}[31mred\u{202E}""#) == true, host.transcript)
        XCTAssertNil(host.index(of: "\u{1B}"), host.transcript)
    }

    // MARK: - Read once

    /// `--config /dev/stdin` with a pipe on stdin: the file's plugins and options are all used
    /// (it was read twice: "no plugin given", or options silently dropped).
    func testConfigFromStandardInputIsReadOnce() throws {
        // Far more than a pipe holds at once (64 KiB), so the host must read it to the end.
        var text =
            "log-format = \"json\"\n[[plugin]]\nload = \"\(Products.plugin("hello"))\"\nalias = \"from-stdin\"\n[plugin.config]\n"
        for index in 0..<20_000 { text += "key-\(index) = \(index)\n" }
        let result = try runHost(["--check", "--config", "/dev/stdin"], stdin: Data(text.utf8))
        XCTAssertEqual(result.code, 0, result.output)
        XCTAssertTrue(result.output.contains("ok from-stdin path="), result.output)
        let loaded = result.output.split(separator: "\n").filter { $0.contains("loaded plugin from-stdin") }
        XCTAssertEqual(loaded.count, 1, result.output)
        XCTAssertTrue(loaded.first?.hasPrefix("{") == true, "log-format from the file is used: \(result.output)")
    }

    /// A process substitution (`<(…)`, a pipe the shell names /dev/fd/N) works the same way.
    func testConfigFromProcessSubstitutionIsReadOnce() throws {
        let script = "exec \"$0\" --check --config <(printf '[[plugin]]\\nload = \"%s\"\\n' \"$1\")"
        let result = try runHost(
            ["-c", script, Products.host.path, Products.plugin("hello")],
            executable: URL(fileURLWithPath: "/bin/bash")
        )
        XCTAssertEqual(result.code, 0, result.output)
        XCTAssertTrue(result.output.contains("ok hello path="), result.output)
    }

    /// A usage error on standard input of another kind (not TOML at all) names /dev/stdin.
    func testBadConfigOnStandardInputNamesIt() throws {
        let result = try runHost(
            ["--check", "--config", "/dev/stdin", Products.plugin("hello")],
            stdin: Data("[\n".utf8)
        )
        XCTAssertEqual(result.code, 64, result.output)
        XCTAssertEqual(
            result.output.split(separator: "\n").filter { $0.contains("--config /dev/stdin:1:") }.count,
            1,
            result.output
        )
    }

    /// The TOML reader (and with it Foundation) runs only in its child process: a host started
    /// with a config file maps neither.
    func testTOMLReaderIsNeverMappedInTheHost() throws {
        let url = scratch.appendingPathComponent("aiorun.toml")
        try "log-level = \"info\"\n[[plugin]]\nload = \"\(Products.plugin("hello"))\"\n".write(
            to: url,
            atomically: true,
            encoding: .utf8
        )
        let host = try ChildProcess.host(["--config", url.path])
        try host.waitForLine(containing: "ready: 1 plugins running", within: .seconds(30))
        // Read to the end: procfs files report a size of 0.
        let file = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/\(host.process.processIdentifier)/maps"))
        let maps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        try file.close()
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(15))
        XCTAssertTrue(maps.contains("/libswift_Concurrency.so"), "the check reads the right maps")
        XCTAssertFalse(maps.contains("/libAioRunTOML.so"), maps)
        XCTAssertFalse(maps.contains("/libFoundation.so"), maps)
    }

    // MARK: - Many keys

    /// 64k config keys for one plugin: read in well under the bound (the linear lookup took
    /// about 10 s for 16k keys and over two minutes for 64k), and the last one reaches the plugin.
    func testSixtyFourThousandConfigKeysAreReadQuickly() throws {
        var text = "[[plugin]]\nload = \"\(Products.plugin("hello"))\"\n[plugin.config]\n"
        for index in 0..<65_535 { text += "key-\(index) = \"value \(index)\"\n" }
        text += "greeting = \"the last of 65536\"\n"
        let url = scratch.appendingPathComponent("many.toml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        let host = try ChildProcess.host(["--config", url.path])
        let ready = try host.waitForLine(containing: "hello from hello", within: .seconds(60))
        let elapsed = ready.at - host.started
        XCTAssertTrue(ready.text.contains("greeting=the last of 65536"), ready.text)
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(15))
        print("64k config keys: start to first plugin line in \(elapsed)")
        XCTAssertLessThan(elapsed, .seconds(15), "64k keys must not take quadratic time")
    }

    // MARK: - Option rules shared by the command line and the file

    /// `preflight` and `load-timeout` in the file; the same ranges on the command line and in
    /// the file, each message naming the option or the file, line and key.
    func testOptionRulesHoldInTheFileAndOnTheCommandLine() throws {
        let hello = Products.plugin("hello")
        let fileCases: [(String, String)] = [
            ("preflight = \"yes\"\n", ":1: key \"preflight\" must be true or false"),
            ("load-timeout = 0\n", ":1: key \"load-timeout\" must be a number of seconds above 0, up to one year"),
            (
                "\nload-timeout = 31536001\n",
                ":2: key \"load-timeout\" must be a number of seconds above 0, up to one year"
            ),
            ("executor-workers = 1025\n", ":1: key \"executor-workers\" must be an integer from 1 to 1024"),
            (
                "task-shutdown-timeout = -1\n",
                ":1: key \"task-shutdown-timeout\" must be a number of seconds from 0 to one year"
            ),
            (
                "log-level = \"loud\"\n",
                ":1: key \"log-level\" must be one of trace, debug, info, notice, warning, error, critical"
            ),
            ("log-format = \"xml\"\n", ":1: key \"log-format\" must be text or json"),
            (
                "[[plugin]]\nload = \"hello\"\nexecutor-workers = 0\n",
                ":3: key \"executor-workers\" must be an integer from 1 to 1024"
            ),
            // CRLF line ends count as lines too.
            ("log-level = \"info\"\r\n\r\nverbose = true\r\n", ":3: unknown key \"verbose\""),
        ]
        for (index, (text, expected)) in fileCases.enumerated() {
            let url = scratch.appendingPathComponent("rule\(index).toml")
            try text.write(to: url, atomically: true, encoding: .utf8)
            let host = try ChildProcess.host(["--check", "--config", url.path, hello])
            XCTAssertEqual(try host.waitForExit(within: .seconds(30)).code, 64, "case \(index): \(host.transcript)")
            XCTAssertEqual(
                host.lines(containing: "\(url.path)\(expected)").count,
                1,
                "case \(index): expected \(expected) in\n\(host.transcript)"
            )
        }
        let commandLineCases: [([String], String)] = [
            (["--load-timeout", "0"], "--load-timeout 0.0: expected a number of seconds above 0, up to one year"),
            (["--executor-workers", "1025"], "--executor-workers 1025: expected an integer from 1 to 1024"),
            (
                ["--task-shutdown-timeout=-1"],
                "--task-shutdown-timeout -1.0: expected a number of seconds from 0 to one year"
            ),
            (
                ["--log-level", "loud"],
                "--log-level loud: expected one of trace, debug, info, notice, warning, error, critical"
            ),
            (["--log-format", "xml"], "--log-format xml: expected text or json"),
        ]
        for (arguments, expected) in commandLineCases {
            let host = try ChildProcess.host(["--check"] + arguments + [hello])
            XCTAssertEqual(try host.waitForExit(within: .seconds(30)).code, 64, "\(arguments): \(host.transcript)")
            XCTAssertEqual(
                host.lines(containing: expected).count,
                1,
                "\(arguments): expected \(expected) in\n\(host.transcript)"
            )
        }
        // Good values in the file are taken; the command line overrides the file.
        let good = scratch.appendingPathComponent("good.toml")
        try "preflight = true\nload-timeout = 0.5\nlog-format = \"json\"\n".write(
            to: good,
            atomically: true,
            encoding: .utf8
        )
        let host = try ChildProcess.host(["--check", "--config", good.path, "--log-format", "text", hello])
        try host.expectExit(0, within: .seconds(30))
        XCTAssertEqual(host.lines(containing: "info [host] loaded plugin hello").count, 1, host.transcript)
    }

    // MARK: - SIGPIPE

    /// A usage error written to a pipe nobody reads ends with 64, and `--help` with 0, not with
    /// SIGPIPE (141).
    func testUsageErrorToAClosedPipeIsNotKilledBySIGPIPE() throws {
        let missing = scratch.appendingPathComponent("missing.toml").path
        // env --default-signal: the child starts with SIGPIPE at its default action even if
        // this test process ignores it.
        let result = try runHost(
            ["--default-signal=PIPE", Products.host.path, "--check", "--config", missing, Products.plugin("hello")],
            executable: URL(fileURLWithPath: "/usr/bin/env"),
            closedOutput: true
        )
        XCTAssertEqual(result.code, 64)
        // `aiorun-host --help | head -1` with the reader gone before the help is written.
        let help = try runHost(
            ["--default-signal=PIPE", Products.host.path, "--help"],
            executable: URL(fileURLWithPath: "/usr/bin/env"),
            closedOutput: true
        )
        XCTAssertEqual(help.code, 0)
    }

    // MARK: - Harness

    /// Runs `executable` (the host by default) with `input` on its standard input through a
    /// pipe, its stdout and stderr merged into a file (or into a pipe whose reader is already
    /// gone); returns the exit code (128+N for a signal) and the output. Bounded: on timeout the
    /// child is killed and the test fails.
    private func runHost(
        _ arguments: [String],
        stdin input: Data? = nil,
        executable: URL = Products.host,
        closedOutput: Bool = false,
        within timeout: Duration = .seconds(30),
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> (code: Int32, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let outputURL = scratch.appendingPathComponent("output-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        let output = try FileHandle(forWritingTo: outputURL)
        let closedPipe = Pipe()
        if closedOutput {
            try closedPipe.fileHandleForReading.close()
            process.standardOutput = closedPipe.fileHandleForWriting
            process.standardError = closedPipe.fileHandleForWriting
        } else {
            process.standardOutput = output
            process.standardError = output
        }
        let stdinPipe = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdinPipe
        try process.run()
        try output.close()
        if closedOutput { try closedPipe.fileHandleForWriting.close() }
        if let input {
            let writer = stdinPipe.fileHandleForWriting
            Thread {
                try? writer.write(contentsOf: input)
                try? writer.close()
            }.start()
        }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                XCTFail("\(arguments) did not exit within \(timeout)", file: file, line: line)
                throw HostTestError.timeout
            }
            usleep(5_000)
        }
        let text = String(decoding: (try? Data(contentsOf: outputURL)) ?? Data(), as: UTF8.self)
        let status = process.terminationStatus
        return (process.terminationReason == .uncaughtSignal ? 128 + status : status, text)
    }
}
