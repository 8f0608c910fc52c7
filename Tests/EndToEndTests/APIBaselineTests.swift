import Foundation
import XCTest

/// The plugin ABI has not changed in a way that breaks plugins already built (README "Writing a
/// plugin", "How the API evolves"): `swift-api-digester` compares the built `AioRunPluginAPI`
/// module with the ABI recorded when the current ABI number was introduced. Additions ("a new
/// API") pass; anything else fails until `AIORUN_PLUGIN_ABI` is bumped and a new baseline is
/// recorded:
///
///     swift-api-digester -dump-sdk -abi -avoid-location -avoid-tool-args -module AioRunPluginAPI \
///         -I .build/debug/Modules -o Tests/Fixtures/APIEvolution/abi-<N>.json
final class APIBaselineTests: XCTestCase {
    func testPluginABIHasOnlyAdditionsSinceItsBaseline() throws {
        let abiSource = try String(
            contentsOf: Products.repositoryRoot.appendingPathComponent("Sources/AioRunPluginAPI/ABI.swift"),
            encoding: .utf8
        )
        let abi = try APIEvolutionTests.abiNumber(in: abiSource)
        let baseline = Products.repositoryRoot.appendingPathComponent("Tests/Fixtures/APIEvolution/abi-\(abi).json")
        guard FileManager.default.fileExists(atPath: baseline.path) else {
            XCTFail("no ABI baseline for ABI \(abi): record \(baseline.path) (see this test's comment)")
            return
        }
        let digester = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "swift-api-digester", "-diagnose-sdk", "-abi", "-module", "AioRunPluginAPI",
                "-I", Products.folder.appendingPathComponent("Modules").path, "-baseline-path", baseline.path,
            ]
        )
        let exit = try digester.waitForExit(within: .seconds(120))
        if exit.code == 127 { throw XCTSkip("swift-api-digester is not on PATH") }
        XCTAssertTrue([0, 1].contains(exit.code), "swift-api-digester failed (\(exit.code)):\n\(digester.transcript)")
        let findings = digester.transcript.split(separator: "\n").map(String.init).filter { line in
            let text = line.trimmingCharacters(in: .whitespaces)
            return !text.isEmpty && !text.hasPrefix("/*") && !text.hasSuffix("is a new API without '@available'")
        }
        XCTAssertEqual(
            findings,
            [],
            "changes that break plugins built against ABI \(abi):"
                + " bump AIORUN_PLUGIN_ABI and record a new baseline, or undo them"
        )
    }
}
