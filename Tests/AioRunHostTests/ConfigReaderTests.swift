import Foundation
import XCTest

@testable import AioRunHost

/// The config reader's pure parts (README, "Config file"): decoding the TOML reader's encoding,
/// finding each key's line for messages, and the byte checks before any parsing.
final class ConfigReaderTests: XCTestCase {
    // MARK: ConfigValue decoding

    func testDecodesEveryKindOfValue() throws {
        let encoded = "t7:s4:names5:hellos1:ii3;s1:ni-42;s1:ff2.5;s1:bb1;s1:aa2:s1:xb0;s1:to4:date"
        let table = try XCTUnwrap(ConfigValue.decodeDocument(Array(encoded.utf8)))
        XCTAssertEqual(table.keys, ["name", "i", "n", "f", "b", "a", "t"])
        XCTAssertEqual(table["name"]?.string, "hello")
        XCTAssertEqual(table["i"]?.int, 3)
        XCTAssertEqual(table["n"]?.int, -42)
        XCTAssertEqual(table["f"]?.double, 2.5)
        XCTAssertEqual(table["b"]?.bool, true)
        let array = try XCTUnwrap(table["a"]?.array)
        XCTAssertEqual(array.count, 2)
        XCTAssertEqual(array[0].string, "x")
        XCTAssertEqual(array[1].bool, false)
        guard case .other(let name)? = table["t"] else {
            return XCTFail("expected .other, got \(String(describing: table["t"]))")
        }
        XCTAssertEqual(name, "date")
    }

    func testKeysKeepTheirOrderAndADuplicateKeepsItsFirstValue() throws {
        let table = try XCTUnwrap(ConfigValue.decodeDocument(Array("t3:s1:zi1;s1:ai2;s1:zi3;".utf8)))
        XCTAssertEqual(table.keys, ["z", "a"])
        XCTAssertEqual(table["z"]?.int, 1)
    }

    func testStringLengthsCountBytesSoTheyMayHoldAnything() throws {
        let text = "a:b;\"\u{1F600}"
        let encoded = "t1:s1:ks\(text.utf8.count):\(text)"
        let table = try XCTUnwrap(ConfigValue.decodeDocument(Array(encoded.utf8)))
        XCTAssertEqual(table["k"]?.string, text)
    }

    func testDamagedEncodingsAreRefusedNotTrapped() {
        let damaged = [
            "", "x", "t", "t1:", "t1:s1:k", "t1:s9:k", "t-1:", "t99999999999999999999:", "s3:ab", "i12", "bx;",
            "t1:i1;i1;",  // a key that is not a string
            "t0:junk",  // trailing bytes
            "a0:",  // a document must be a table
        ]
        for text in damaged {
            XCTAssertNil(ConfigValue.decodeDocument(Array(text.utf8)), text)
        }
    }

    func testNestingDeeperThanTheLimitIsRefused() {
        let depth = ConfigValue.maximumDepth + 1
        let deep = "t1:s1:k" + String(repeating: "a1:", count: depth) + "i1;"
        XCTAssertNil(ConfigValue.decodeDocument(Array(deep.utf8)))
        let shallow = "t1:s1:k" + String(repeating: "a1:", count: ConfigValue.maximumDepth - 2) + "i1;"
        XCTAssertNotNil(ConfigValue.decodeDocument(Array(shallow.utf8)))
    }

    // MARK: KeyLines

    func testKeyLinesFindKeysUnderTheirSections() {
        let text = """
            # comment = 1
            log-level = "info"
            [[plugin]]
            load = "hello"
              [plugin.config]
              greeting = "hi"
            [[plugin]]\r
            load = "ticker"\r
            "quoted\\u0041key" = 1
            'literal' = 2
            [other]
            log-level = "x"
            """
        let lines = KeyLines(text)
        XCTAssertEqual(lines.line(of: "log-level", in: .top), 2)
        XCTAssertNil(lines.line(of: "comment", in: .top))
        XCTAssertEqual(lines.header(of: 0), 3)
        XCTAssertEqual(lines.line(of: "load", in: .plugin(0)), 4)
        XCTAssertEqual(lines.line(of: "greeting", in: .pluginConfig(0)), 6)
        XCTAssertEqual(lines.header(of: 1), 7)
        XCTAssertEqual(lines.line(of: "load", in: .plugin(1)), 8)
        XCTAssertEqual(lines.line(of: "quotedAkey", in: .plugin(1)), 9)
        XCTAssertEqual(lines.line(of: "literal", in: .plugin(1)), 10)
        XCTAssertEqual(lines.line(of: "log-level", in: .other), 12)
        XCTAssertNil(lines.header(of: 2))
    }

    func testUnescapedResolvesBasicStringEscapesAndKeepsUnknownOnes() {
        XCTAssertEqual(KeyLines.unescaped("a\\tb\\\"c\\\\d"), "a\tb\"c\\d")
        XCTAssertEqual(KeyLines.unescaped("\\u00e9\\U0001F600"), "é\u{1F600}")
        XCTAssertEqual(KeyLines.unescaped("\\q\\u12"), "\\q\\u12")
    }

    // MARK: ConfigFileBytes

    func testEncodingChecksNameLineAndColumn() {
        XCTAssertNoThrow(try ConfigFileBytes.checkEncoding(Array("a = \"é\"\n".utf8), path: "f.toml"))
        XCTAssertEqual(
            usageError { try ConfigFileBytes.checkEncoding(Array("a = 1\nbc\0".utf8), path: "f.toml") },
            "--config f.toml:2: a NUL byte at column 3; TOML allows none"
        )
        XCTAssertEqual(
            usageError { try ConfigFileBytes.checkEncoding([0x61, 0x0a, 0x0a, 0x20, 0xff], path: "f.toml") },
            "--config f.toml:3: not UTF-8 (byte 0xFF at column 2); TOML files are UTF-8"
        )
    }

    func testReadTakesTheWholeFileAndRefusesMoreThanTheLimit() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("aiorun-unit-\(UUID().uuidString).toml")
        defer { try? FileManager.default.removeItem(at: url) }
        let content = Array(repeating: UInt8(ascii: "x"), count: 200_000)
        try Data(content).write(to: url)
        XCTAssertEqual(try ConfigFileBytes.read(url.path, limit: 1 << 20), content)
        XCTAssertEqual(
            usageError { try ConfigFileBytes.read(url.path, limit: 100_000) },
            "--config \(url.path): larger than 0 MiB"
        )
        XCTAssertEqual(
            usageError { try ConfigFileBytes.read("/nonexistent/aiorun.toml", limit: 1 << 20) },
            "--config /nonexistent/aiorun.toml: No such file or directory"
        )
    }

    // MARK: ConfigFile

    func testStartDrainAndRestartKeysAtTopLevelAndPerPlugin() throws {
        let text = """
            startup-timeout = 15
            concurrent-start = true
            drain-delay = 2.5
            restart = "on-failure"
            restart-max = 0
            restart-window = 30
            [[plugin]]
            load = "web"
            startup-timeout = 0.5
            restart = "no"
            restart-max = 1000
            restart-window = 1
            """
        let table = ConfigTable([
            ("startup-timeout", .int(15)), ("concurrent-start", .bool(true)), ("drain-delay", .double(2.5)),
            ("restart", .string("on-failure")), ("restart-max", .int(0)), ("restart-window", .int(30)),
            (
                "plugin",
                .array([
                    .table(
                        ConfigTable([
                            ("load", .string("web")), ("startup-timeout", .double(0.5)), ("restart", .string("no")),
                            ("restart-max", .int(1000)), ("restart-window", .int(1)),
                        ])
                    )
                ])
            ),
        ])
        let file = try ConfigFile.read(table, text: text, path: "f.toml")
        XCTAssertEqual(file.concurrentStart, true)
        XCTAssertEqual(file.drainDelay, .milliseconds(2500))
        XCTAssertEqual(
            file.pluginDefaults,
            PluginOptionValues(
                startupTimeout: .seconds(15),
                restart: .onFailure,
                restartMax: 0,
                restartWindow: .seconds(30)
            )
        )
        XCTAssertEqual(
            file.plugins.first?.argument.options,
            PluginOptionValues(
                startupTimeout: .milliseconds(500),
                restart: .no,
                restartMax: 1000,
                restartWindow: .seconds(1)
            )
        )
    }

    func testBadStartDrainAndRestartValuesNameFileLineAndKey() {
        let cases: [(String, ConfigValue, String)] = [
            ("startup-timeout", .int(0), "key \"startup-timeout\" must be a number of seconds above 0, up to one year"),
            ("drain-delay", .int(-1), "key \"drain-delay\" must be a number of seconds from 0 to one year"),
            ("concurrent-start", .string("yes"), "key \"concurrent-start\" must be true or false"),
            ("restart", .string("always"), "key \"restart\" must be no or on-failure"),
            ("restart", .bool(true), "key \"restart\" must be no or on-failure"),
            ("restart-max", .int(1001), "key \"restart-max\" must be an integer from 0 to 1000"),
            ("restart-max", .double(2), "key \"restart-max\" must be an integer from 0 to 1000"),
            (
                "restart-window", .double(0),
                "key \"restart-window\" must be a number of seconds above 0, up to one year"
            ),
        ]
        for (key, value, message) in cases {
            // drain-delay and concurrent-start are host-wide only.
            assertRefused(key, value, message, inEntryToo: key != "drain-delay" && key != "concurrent-start")
        }
    }

    func testHostOnlyKeysAreUnknownInAPluginEntry() {
        let entry = ConfigTable([
            ("plugin", .array([.table(ConfigTable([("load", .string("web")), ("drain-delay", .int(1))]))]))
        ])
        XCTAssertEqual(
            usageError {
                try ConfigFile.read(entry, text: "[[plugin]]\nload = \"web\"\ndrain-delay = 1\n", path: "f.toml")
            },
            "--config f.toml:3: unknown key \"drain-delay\" in [[plugin]] #1 (expected one of load, alias,"
                + " task-shutdown-timeout, executor-workers, startup-timeout, restart, restart-max, restart-window,"
                + " isolate, memory-limit, open-files-limit, config)"
        )
    }

    func testIsolationKeysAtTopLevelAndPerPlugin() throws {
        let text = """
            isolate = true
            memory-limit = "512M"
            open-files-limit = 1024
            [[plugin]]
            load = "web"
            isolate = false
            [[plugin]]
            load = "api"
            memory-limit = 1073741824
            open-files-limit = 16
            [[plugin]]
            load = "job"
            memory-limit = "2gib"
            """
        let table = ConfigTable([
            ("isolate", .bool(true)), ("memory-limit", .string("512M")), ("open-files-limit", .int(1024)),
            (
                "plugin",
                .array([
                    .table(ConfigTable([("load", .string("web")), ("isolate", .bool(false))])),
                    .table(
                        ConfigTable([
                            ("load", .string("api")), ("memory-limit", .int(1 << 30)), ("open-files-limit", .int(16)),
                        ])
                    ),
                    .table(ConfigTable([("load", .string("job")), ("memory-limit", .string("2gib"))])),
                ])
            ),
        ])
        let file = try ConfigFile.read(table, text: text, path: "f.toml")
        XCTAssertEqual(
            file.pluginDefaults,
            PluginOptionValues(isolate: true, memoryLimit: 512 << 20, openFilesLimit: 1024)
        )
        XCTAssertEqual(file.limitOrigins["memory-limit"], "--config f.toml:2: key \"memory-limit\"")
        XCTAssertEqual(
            file.plugins.map(\.argument.options),
            [
                PluginOptionValues(isolate: false),
                PluginOptionValues(memoryLimit: 1 << 30, openFilesLimit: 16),
                PluginOptionValues(memoryLimit: 2 << 30),
            ]
        )
        XCTAssertEqual(
            file.plugins[1].limitOrigins["open-files-limit"],
            "--config f.toml:10: key \"open-files-limit\" in [[plugin]] #2"
        )
    }

    func testBadIsolationValuesNameFileLineAndKey() {
        let size = "key \"memory-limit\" must be a size from 1M to 1T (bytes, or with K, M or G)"
        let cases: [(String, ConfigValue, String)] = [
            ("isolate", .string("yes"), "key \"isolate\" must be true or false"),
            ("isolate", .int(1), "key \"isolate\" must be true or false"),
            ("memory-limit", .int(1000), size),
            ("memory-limit", .string("1X"), size),
            ("memory-limit", .string("2T"), size),
            ("memory-limit", .double(1e9), size),
            ("memory-limit", .bool(true), size),
            ("open-files-limit", .int(15), "key \"open-files-limit\" must be an integer from 16 to 1048576"),
            ("open-files-limit", .string("64"), "key \"open-files-limit\" must be an integer from 16 to 1048576"),
        ]
        for (key, value, message) in cases { assertRefused(key, value, message, inEntryToo: true) }
    }

    /// `key = value` is refused with `message` at the top level (line 2) and, with `inEntryToo`,
    /// in a `[[plugin]]` entry (line 3).
    private func assertRefused(
        _ key: String,
        _ value: ConfigValue,
        _ message: String,
        inEntryToo: Bool,
        line: UInt = #line
    ) {
        let top = ConfigTable([(key, value)])
        XCTAssertEqual(
            usageError { try ConfigFile.read(top, text: "# a comment\n\(key) = x\n", path: "f.toml") },
            "--config f.toml:2: \(message)",
            key,
            line: line
        )
        guard inEntryToo else { return }
        let entry = ConfigTable([
            ("plugin", .array([.table(ConfigTable([("load", .string("web")), (key, value)]))]))
        ])
        XCTAssertEqual(
            usageError {
                try ConfigFile.read(entry, text: "[[plugin]]\nload = \"web\"\n\(key) = x\n", path: "f.toml")
            },
            "--config f.toml:3: \(message)",
            key,
            line: line
        )
    }
}
