import Foundation
import XCTest

/// libAioRunPluginAPI.so sits in the process's global symbol scope, so it must link nothing but
/// the toolchain's own shared libraries and carry no swift-log, NIO or Atomics code (README, "Why the API is its own package").
final class APILibraryTests: XCTestCase {
    func readelf(_ arguments: [String]) throws -> String {
        let tool = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["readelf"] + arguments + [Products.plugin("AioRunPluginAPI")]
        )
        try tool.expectExit(0, within: .seconds(60))
        return tool.transcript
    }

    func testAPILibraryLinksOnlyToolchainLibraries() throws {
        let dynamic = try readelf(["-d"])
        let needed = dynamic.split(separator: "\n").filter { $0.contains("(NEEDED)") }.compactMap { line in
            line.split(separator: "[").last?.split(separator: "]").first.map(String.init)
        }
        XCTAssertFalse(needed.isEmpty, dynamic)
        for library in needed {
            XCTAssertTrue(
                library.hasPrefix("libswift") || library.hasPrefix("libc.so") || library.hasPrefix("libm.so")
                    || library.hasPrefix("libdispatch") || library.hasPrefix("libBlocksRuntime"),
                "unexpected dependency \(library)"
            )
        }
        let symbols = try readelf(["--dyn-syms", "-W"])
        for module in ["7Logging", "8NIOCore", "7Atomics", "14TOMLKit"] {
            XCTAssertFalse(symbols.contains(module), "the API library contains \(module) symbols")
        }
        XCTAssertTrue(symbols.contains("aiorun_api_abi"), "the self-check symbol must be exported")
    }
}
