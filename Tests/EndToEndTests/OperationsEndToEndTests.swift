import Foundation
import XCTest

/// A good citizen of systemd and Kubernetes: sd_notify, JSON logs, config files, --check and
/// --inspect.
final class OperationsEndToEndTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = try Scratch.folder(for: self)
    }

    /// READY with STATUS once every plugin runs, WATCHDOG pings at half WATCHDOG_USEC, then
    /// STOPPING, then per plugin in teardown order a STATUS with EXTEND_TIMEOUT_USEC.
    func testSystemdNotificationsInOrderOnAPathSocket() throws {
        let notify = try NotifySocket(in: scratch, abstract: false)
        let host = try ChildProcess.host(
            [
                "--task-shutdown-timeout", "5", Products.plugin("hello"), Products.plugin("shield-demo"), "--set",
                "shield-demo.seconds=0.3",
            ],
            environment: ["NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "200000"]
        )
        XCTAssertTrue(notify.waitFor("READY=1", within: .seconds(30)), "\(notify.messages)\n\(host.transcript)")
        XCTAssertTrue(notify.waitFor("WATCHDOG=1", within: .seconds(5)))
        usleep(400_000)
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
        XCTAssertTrue(notify.waitFor("STATUS=stopping plugin hello", within: .seconds(2)), "\(notify.messages)")
        let messages = notify.messages
        XCTAssertEqual(messages.first, "READY=1\nSTATUS=running 2 plugins")
        XCTAssertGreaterThanOrEqual(messages.filter { $0 == "WATCHDOG=1" }.count, 2, "\(messages)")
        let lifecycle = messages.filter { $0 != "WATCHDOG=1" }
        XCTAssertEqual(
            lifecycle,
            [
                "READY=1\nSTATUS=running 2 plugins",
                "STOPPING=1\nSTATUS=stopping: SIGTERM",
                "STATUS=stopping plugin shield-demo\nEXTEND_TIMEOUT_USEC=6000000",
                "STATUS=stopping plugin hello\nEXTEND_TIMEOUT_USEC=6000000",
            ]
        )
    }

    /// A supervisor that stops reading its socket (its queue holds about 10 datagrams) must not
    /// stall the host: 30 plugins send more than that at shutdown, and the host still stops in
    /// time, with its notifications dropped (README, "Running under systemd or Kubernetes").
    func testStalledNotifySocketNeverHoldsUpTheHost() throws {
        let notify = try NotifySocket(in: scratch, abstract: false, reading: false)
        let plugins = (0..<30).map { "p\($0)=\(Products.plugin("hello"))" }
        let host = try ChildProcess.host(plugins, environment: ["NOTIFY_SOCKET": notify.address])
        try host.waitForLine(containing: "ready: 30 plugins running", within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(15))
        XCTAssertEqual(host.lines(containing: "stopped plugin").count, 30, host.transcript)
        XCTAssertFalse(host.lines(containing: "systemd notification dropped").isEmpty, "drops are not silent")
    }

    /// READY=1 that finds the supervisor's queue full (here: 24 plugins that report readiness,
    /// each with a STATUS while the host waits for it, and nobody reading yet) is sent again
    /// until it goes out, so a supervisor that was slow for a moment still learns the host is
    /// ready.
    func testReadyIsSentAgainWhenTheSocketWasFull() throws {
        let notify = try NotifySocket(in: scratch, abstract: false, reading: false)
        var arguments: [String] = []
        for index in 0..<24 {
            arguments += ["p\(index)=\(Products.plugin("faulty"))", "--set", "p\(index).mode=ready-after"]
            arguments += ["--set", "p\(index).delay-ms=20"]
        }
        let host = try ChildProcess.host(
            arguments,
            environment: ["NOTIFY_SOCKET": notify.address, "AIORUN_FAULTY_READINESS": "reported"]
        )
        try host.waitForLine(containing: "ready: 24 plugins running", within: .seconds(30))
        try host.waitForLine(containing: "systemd notification delayed", within: .seconds(10))
        notify.startReading()
        XCTAssertTrue(notify.waitFor("READY=1", within: .seconds(10)), "\(notify.messages)\n\(host.transcript)")
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(15))
    }

    func testSystemdNotificationsOnAnAbstractSocket() throws {
        let notify = try NotifySocket(in: scratch, abstract: true)
        let host = try ChildProcess.host([Products.plugin("hello")], environment: ["NOTIFY_SOCKET": notify.address])
        XCTAssertTrue(notify.waitFor("READY=1", within: .seconds(30)), "\(notify.messages)\n\(host.transcript)")
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
        XCTAssertTrue(notify.waitFor("STOPPING=1", within: .seconds(2)), "\(notify.messages)")
        XCTAssertFalse(notify.messages.contains("WATCHDOG=1"), "no watchdog without WATCHDOG_USEC")
    }

    /// --log-format json: every log line is one JSON object with timestamp, level, label, plugin,
    /// message and metadata; the host's lines and the plugins' (through the bridge too) alike.
    func testJSONLogsAreOneObjectPerLine() throws {
        let host = try ChildProcess.host([
            "--log-format", "json", Products.plugin("hello"), Products.plugin("ticker"), "--set",
            "ticker.interval-ms=50",
        ])
        try host.waitForLine(containing: "tick 2", within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(10))
        var plugins: Set<String> = []
        for line in host.output.map(\.text) {
            let object = try XCTUnwrap(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                "not a JSON object: \(line)"
            )
            for key in ["timestamp", "level", "label", "plugin", "message", "metadata"] {
                XCTAssertNotNil(object[key], "\(key) missing in \(line)")
            }
            if let plugin = object["plugin"] as? String { plugins.insert(plugin) }
            if (object["message"] as? String)?.hasPrefix("tick") == true {
                XCTAssertEqual(object["plugin"] as? String, "ticker")
                XCTAssertEqual(object["label"] as? String, "ticker")
                XCTAssertEqual((object["metadata"] as? [String: String])?["interval-ms"], "50")
            }
        }
        XCTAssertEqual(plugins, ["hello", "ticker"])
    }

    /// A config file lists plugins in order with aliases, config and per-plugin limits; the
    /// command line overrides it and adds plugins after its own.
    func testConfigFileDrivesTheHostAndFlagsOverrideIt() throws {
        let config = scratch.appendingPathComponent("aiorun.toml")
        try """
        task-shutdown-timeout = 30
        log-level = "info"

        [[plugin]]
        load = "\(Products.plugin("hello"))"
        alias = "first"
        [plugin.config]
        greeting = "from the file"

        [[plugin]]
        load = "faulty"
        task-shutdown-timeout = 0.3
        [plugin.config]
        mode = "ignore-cancel"
        """.write(to: config, atomically: true, encoding: .utf8)
        let host = try ChildProcess.host([
            "--config", config.path, "--set", "first.greeting=from the command line", Products.plugin("hello"),
        ])
        try host.waitForLine(containing: "ready: 3 plugins running", within: .seconds(30))
        let first = try host.waitForLine(containing: "hello from first", within: .seconds(5))
        XCTAssertTrue(first.text.contains("greeting=from the command line"), first.text)
        try host.waitForLine(containing: "hello from hello", within: .seconds(5))
        try host.stop(with: SIGTERM, expecting: 70, within: .seconds(15))
        XCTAssertNotNil(host.lines(containing: "[faulty] time limit of 0.300s expired").first, host.transcript)
        let stopped = host.lines(containing: "stopped plugin").map {
            $0.components(separatedBy: "stopped plugin ")[1].components(separatedBy: " ")[0]
        }
        XCTAssertEqual(stopped, ["hello", "faulty", "first"])
    }

    /// Mistakes in the config file name the file, the line and the key; exit 64, nothing runs.
    func testConfigFileMistakesNameFileLineAndKey() throws {
        let cases: [(String, String)] = [
            ("log-level = \"info\"\nverbose = true\n", ":2: unknown key \"verbose\""),
            (
                "\n\n[[plugin]]\nload = \"hello\"\nexecutor-workers = \"many\"\n",
                ":5: key \"executor-workers\" must be an integer"
            ),
            (
                "[[plugin]]\nload = \"hello\"\n\n[[plugin]]\nload = \"no-such-plugin\"\n",
                ":5: key \"load\": plugin no-such-plugin: no libno-such-plugin.so"
            ),
            ("[[plugin]]\nalias = \"x\"\n", ":1: [[plugin]] #1 has no \"load\" key"),
            ("[[plugin]]\nload = \"hello\"\ncolour = \"blue\"\n", ":3: unknown key \"colour\" in [[plugin]] #1"),
            ("task-shutdown-timeout = \"soon\"\n", ":1: key \"task-shutdown-timeout\" must be a number"),
            ("[[plugin]\nload = 1\n", ":1:"),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let config = scratch.appendingPathComponent("bad\(index).toml")
            try text.write(to: config, atomically: true, encoding: .utf8)
            let host = try ChildProcess.host(["--config", config.path])
            XCTAssertEqual(try host.waitForExit(within: .seconds(30)).code, 64, "case \(index): \(host.transcript)")
            XCTAssertTrue(
                host.transcript.contains("\(config.path)\(expected)"),
                "case \(index): expected \(expected) in\n\(host.transcript)"
            )
            XCTAssertNil(host.index(of: "ready:"), host.transcript)
        }
    }

    /// The TOML reader (and with it Foundation, about 7 ms of start-up) is never mapped into the
    /// host: a config file is parsed in a short-lived child process (README, Failure modes), and a
    /// plain start maps neither.
    func testFoundationIsNeverLoadedIntoTheHost() throws {
        func mappedLibraries(_ arguments: [String]) throws -> String {
            let host = try ChildProcess.host(arguments)
            try host.waitForLine(containing: "ready: 1 plugins running", within: .seconds(30))
            // Read to the end: procfs files report a size of 0, which String(contentsOfFile:) trusts.
            let file = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/\(host.process.processIdentifier)/maps"))
            let maps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
            try file.close()
            try host.stop(with: SIGTERM, expecting: 0, within: .seconds(15))
            return maps
        }
        let plain = try mappedLibraries([Products.plugin("hello")])
        XCTAssertTrue(plain.contains("/libswift_Concurrency.so"), "the check reads the right maps")
        XCTAssertFalse(plain.contains("/libFoundation.so"), plain)
        XCTAssertFalse(plain.contains("/libAioRunTOML.so"), plain)

        let config = scratch.appendingPathComponent("aiorun.toml")
        try "log-level = \"info\"\n".write(to: config, atomically: true, encoding: .utf8)
        let withConfig = try mappedLibraries(["--config", config.path, Products.plugin("hello")])
        XCTAssertTrue(withConfig.contains("/libswift_Concurrency.so"), "the check reads the right maps")
        XCTAssertFalse(withConfig.contains("/libAioRunTOML.so"), withConfig)
        XCTAssertFalse(withConfig.contains("/libFoundation.so"), withConfig)
    }

    /// A host installed without its TOML reader says so for `--config`, with exit 64, and still
    /// runs without one.
    func testMissingTOMLReaderIsAUsageErrorOnlyForConfigFiles() throws {
        let install = scratch.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: install, withIntermediateDirectories: true)
        for file in ["aiorun-host", "libAioRunPluginAPI.so", "libhello.so"] {
            try FileManager.default.copyItem(
                at: Products.folder.appendingPathComponent(file),
                to: install.appendingPathComponent(file)
            )
        }
        let config = scratch.appendingPathComponent("aiorun.toml")
        try "[[plugin]]\nload = \"hello\"\n".write(to: config, atomically: true, encoding: .utf8)
        let host = install.appendingPathComponent("aiorun-host")

        let withConfig = try ChildProcess(host, ["--config", config.path])
        try withConfig.expectExit(64, within: .seconds(30))
        let error = withConfig.lines(containing: "cannot load the TOML reader")
        XCTAssertEqual(error.count, 1, withConfig.transcript)
        XCTAssertTrue(error.first?.contains("--config \(config.path): ") == true, withConfig.transcript)
        XCTAssertTrue(
            error.first?.contains(install.appendingPathComponent("libAioRunTOML.so").path) == true,
            withConfig.transcript
        )
        XCTAssertNil(withConfig.index(of: "loaded plugin"), withConfig.transcript)

        let plain = try ChildProcess(host, ["hello"])
        try plain.waitForLine(containing: "ready: 1 plugins running", within: .seconds(30))
        try plain.stop(with: SIGTERM, expecting: 0, within: .seconds(15))
    }

    /// --check runs every loading step, prints one line per plugin and starts nothing.
    func testCheckStartsNothingAndReportsEachPlugin() throws {
        let host = try ChildProcess.host([
            "--check", Products.plugin("hello"), "again=hello", Products.plugin("ticker"),
        ])
        try host.expectExit(0, within: .seconds(30))
        let lines = host.lines(containing: "ok ")
        XCTAssertEqual(lines.count, 3, host.transcript)
        XCTAssertTrue(lines[0].hasPrefix("ok hello path=\(Products.plugin("hello"))"), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("ok again path="), lines[1])
        for line in lines {
            XCTAssertTrue(line.contains(" abi=2 api=2.2.0 toolchain=\"Swift version "), line)
            XCTAssertTrue(line.contains("\" readiness=at-start isolated=no"), line)
            XCTAssertTrue(line.hasSuffix(" isolated=no"), line)
        }
        // With `--isolate`, every plugin is isolated, and its line says so.
        let isolated = try ChildProcess.host([
            "--check", "--isolate", "--memory-limit", "64M", Products.plugin("hello"),
        ])
        try isolated.expectExit(0, within: .seconds(30))
        let line = try XCTUnwrap(isolated.lines(containing: "ok hello ").first, isolated.transcript)
        XCTAssertTrue(line.hasSuffix(" readiness=at-start isolated=yes"), line)
        XCTAssertNil(host.index(of: "ready:"), host.transcript)
        XCTAssertNil(host.index(of: "] hello from"), host.transcript)

        let bad = try ChildProcess.host([
            "--check", Products.plugin("hello"), scratch.appendingPathComponent("missing.so").path,
        ])
        try bad.expectExit(65, within: .seconds(30))
        XCTAssertTrue(bad.transcript.contains("missing.so: resolve:"), bad.transcript)
    }

    /// --inspect adds the exported entry and the libraries the plugin needs.
    func testInspectShowsEntryAndNeededLibraries() throws {
        let host = try ChildProcess.host(["--inspect", Products.plugin("ticker")])
        try host.expectExit(0, within: .seconds(30))
        XCTAssertNotNil(host.lines(containing: "ok ticker path=").first, host.transcript)
        let entry = try XCTUnwrap(host.lines(containing: "entry: aiorun_plugin_entry at 0x").first, host.transcript)
        XCTAssertFalse(entry.hasSuffix("0x0"), entry)
        let needs = try XCTUnwrap(host.lines(containing: "needs: ").first, host.transcript)
        XCTAssertTrue(needs.contains("libAioRunPluginAPI.so") && needs.contains("libswiftCore.so"), needs)
        let two = try ChildProcess.host(["--inspect", Products.plugin("ticker"), Products.plugin("hello")])
        try two.expectExit(64, within: .seconds(30))
    }
}
