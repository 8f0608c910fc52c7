import Foundation
import XCTest

/// Signals under load, and the journal: nothing acknowledged is ever lost.
final class ReliabilityEndToEndTests: XCTestCase {
    /// Output that must never appear: crashes and Swift runtime errors.
    let crashMarkers = [
        "Fatal error", "fatal error", "Swift runtime failure", "Segmentation fault", "Assertion failed",
        "Illegal instruction", "precondition failure",
    ]

    func assertNoCrash(_ host: ChildProcess, _ code: Int32, context: String) {
        XCTAssertFalse(
            [134, 139, 132, 135, 136].contains(code),
            "crash exit \(code) (\(context)):\n\(host.transcript)"
        )
        for marker in crashMarkers {
            XCTAssertFalse(host.transcript.contains(marker), "\(marker) (\(context)):\n\(host.transcript)")
        }
    }

    /// 50 runs: bursts of 100 SIGTERM/SIGINT at random moments (while loading, while running,
    /// and during teardown after a first signal). The host always ends within a bound with 0,
    /// 70 or 128+N, never crashes and never prints a runtime error.
    func testSignalBurstsAtRandomMomentsNeverCrashOrHang() throws {
        var generator = SystemRandomNumberGenerator()
        var codes: [Int32: Int] = [:]
        for run in 0..<50 {
            let host = try ChildProcess.host([
                Products.plugin("hello"), Products.plugin("ticker"), Products.plugin("shield-demo"),
                Products.plugin("blocking"),
                "--set", "shield-demo.seconds=0.3", "--set", "blocking.job-ms=100", "--set", "ticker.interval-ms=20",
            ])
            let duringTeardown = run % 2 == 1
            usleep(UInt32.random(in: 0...400_000, using: &generator))
            if duringTeardown {
                host.send(SIGTERM)
                usleep(UInt32.random(in: 0...300_000, using: &generator))
            }
            for index in 0..<100 { host.send(index % 2 == 0 ? SIGTERM : SIGINT) }
            let exit = try host.waitForExit(within: .seconds(20))
            XCTAssertTrue([0, 70, 130, 143].contains(exit.code), "run \(run): exit \(exit.code)\n\(host.transcript)")
            assertNoCrash(host, exit.code, context: "run \(run)")
            codes[exit.code, default: 0] += 1
        }
        print("signal bursts: exit codes \(codes.sorted { $0.key < $1.key })")
    }

    /// 50 runs: one SIGTERM before `ready` (often before the host has even installed its
    /// handlers). The host ends with 0 or 128+15, never crashes, never hangs.
    func testSIGTERMBeforeReadyNeverCrashesOrHangs() throws {
        var generator = SystemRandomNumberGenerator()
        var codes: [Int32: Int] = [:]
        for run in 0..<50 {
            let host = try ChildProcess.host([Products.plugin("hello"), Products.plugin("ticker")])
            usleep(UInt32.random(in: 0...30_000, using: &generator))
            host.send(SIGTERM)
            let exit = try host.waitForExit(within: .seconds(20))
            XCTAssertTrue([0, 143].contains(exit.code), "run \(run): exit \(exit.code)\n\(host.transcript)")
            assertNoCrash(host, exit.code, context: "run \(run)")
            codes[exit.code, default: 0] += 1
        }
        print("SIGTERM before ready: exit codes \(codes.sorted { $0.key < $1.key })")
    }

    /// A signal while plugins are still being created is kept: no plugin's run() is entered, and
    /// the host shuts down cleanly with 0.
    func testSignalWhilePluginsLoadStartsNothingAndExitsZero() throws {
        let host = try ChildProcess.host([
            Products.plugin("hello"), Products.plugin("faulty"), "--set", "faulty.init-delay-ms=1500",
        ])
        try host.waitForLine(containing: "faulty initializing", within: .seconds(30))
        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(20))
        XCTAssertNotNil(
            host.index(of: "shutdown requested before any plugin started (SIGTERM); starting none"),
            host.transcript
        )
        XCTAssertNil(host.index(of: "ready:"), host.transcript)
        XCTAssertNil(host.index(of: "hello from hello"), host.transcript)
    }

    /// 100 runs of the journal plugin, each stopped by SIGTERM at a random moment: every
    /// acknowledged record is in the file, every line is complete, the numbers are consecutive
    /// from 1, and the host exits 0.
    func testJournalNeverLosesAnAcknowledgedRecord() throws {
        let folder = try Scratch.folder(for: self)
        var generator = SystemRandomNumberGenerator()
        var totalAcks = 0
        for run in 0..<100 {
            let path = folder.appendingPathComponent("journal-\(run).log").path
            var arguments = [Products.plugin("journal"), "--set", "journal.path=\(path)"]
            if run % 4 == 3 { arguments += ["--set", "journal.interval-ms=1"] }
            let host = try ChildProcess.host(arguments)
            try host.waitForLine(containing: "ready:", within: .seconds(30))
            usleep(UInt32.random(in: 0...150_000, using: &generator))
            host.send(SIGTERM)
            let exit = try host.waitForExit(within: .seconds(20))
            XCTAssertEqual(exit.code, 0, "run \(run):\n\(host.transcript)")
            let acked = host.output.compactMap { line -> Int? in
                line.text.hasPrefix("ack ") ? Int(line.text.dropFirst(4)) : nil
            }
            let contents = try String(contentsOfFile: path, encoding: .utf8)
            XCTAssertTrue(contents.isEmpty || contents.hasSuffix("\n"), "run \(run): a torn last line")
            let records = contents.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            for (index, record) in records.enumerated() {
                let number = index + 1
                XCTAssertEqual(
                    String(record),
                    "\(number):\(number):\(number)",
                    "run \(run): record \(number) malformed"
                )
            }
            XCTAssertEqual(
                acked,
                Array(1...max(1, acked.count)).prefix(acked.count).map { $0 },
                "run \(run): acks not consecutive"
            )
            XCTAssertLessThanOrEqual(
                acked.last ?? 0,
                records.count,
                "run \(run): acknowledged \(acked.last ?? 0) but only \(records.count) records in the file"
            )
            totalAcks += acked.count
        }
        print("journal: \(totalAcks) acknowledged records over 100 runs, none lost")
        XCTAssertGreaterThan(totalAcks, 100)
    }
}
