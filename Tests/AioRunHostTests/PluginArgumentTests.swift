import XCTest

@testable import AioRunHost

/// Plugin arguments: `path`, bare `name`, `alias=<plugin>` (README, "Command line"), and the
/// plugin-name rule.
final class PluginArgumentTests: XCTestCase {
    func testPathsNamesAndAliases() throws {
        XCTAssertEqual(try PluginArgument(parsing: "hello"), PluginArgument(alias: nil, target: "hello"))
        XCTAssertEqual(
            try PluginArgument(parsing: "./libhello.so"),
            PluginArgument(alias: nil, target: "./libhello.so")
        )
        XCTAssertEqual(try PluginArgument(parsing: "greeter=hello"), PluginArgument(alias: "greeter", target: "hello"))
        XCTAssertEqual(
            try PluginArgument(parsing: "b=/opt/x=y/libhello.so"),
            PluginArgument(alias: "b", target: "/opt/x=y/libhello.so")
        )
        // An "=" after a "/" is part of the path, not an alias.
        XCTAssertEqual(try PluginArgument(parsing: "/opt/a=b.so"), PluginArgument(alias: nil, target: "/opt/a=b.so"))
    }

    func testBadArgumentsAreUsageErrors() {
        XCTAssertEqual(usageError { try PluginArgument(parsing: "") }, "empty plugin argument")
        XCTAssertEqual(
            usageError { try PluginArgument(parsing: "a=") },
            "plugin argument a=: nothing to load after \"=\""
        )
        XCTAssertEqual(
            usageError { try PluginArgument(parsing: "Big=hello") },
            "plugin argument Big=hello: alias \"Big\" \(PluginName.rule)"
        )
    }

    func testPluginNameRule() {
        for valid in ["a", "0", "hello", "my_plugin-2", String(repeating: "x", count: 64)] {
            XCTAssertTrue(PluginName.isValid(valid), valid)
        }
        for invalid in ["", "-a", "_a", "A", "héllo", "a.b", "a b", String(repeating: "x", count: 65)] {
            XCTAssertFalse(PluginName.isValid(invalid), invalid)
        }
    }

    func testUsageErrorsStayOneLine() {
        let error = HostUsageError("bad \u{1B}[31mred\nnext\u{202E}line")
        XCTAssertEqual(error.description, "bad \\u{1B}[31mred\\nnext\\u{202E}line")
    }
}
