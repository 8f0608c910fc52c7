import Logging
import XCTest

@testable import AioRunHost

#if canImport(Glibc)
import Glibc
#endif

/// What travels between the host and an isolated plugin's child (README, "Isolation"): the
/// channel's messages, the child's JSON log lines read back, its description as arguments, and
/// the lines kept from a crash.
final class IsolationWireTests: XCTestCase {
    func testChannelMessagesArriveWholeWithTheirValuesIntact() throws {
        let pair = try XCTUnwrap(IsolationChannel.makePair())
        defer {
            close(pair.host)
            close(pair.child)
        }
        let reason = "requestShutdown from web (line one\nline two \\ with a backslash=and equals)"
        XCTAssertTrue(IsolationChannel.send([("TRIGGER", "requested"), ("REASON", reason)], on: pair.child))
        XCTAssertTrue(IsolationChannel.send([("READY", "1")], on: pair.child))
        let first = try XCTUnwrap(IsolationChannel.receive(on: pair.host))
        XCTAssertEqual(first["TRIGGER"], "requested")
        XCTAssertEqual(first["REASON"], reason)
        XCTAssertEqual(try XCTUnwrap(IsolationChannel.receive(on: pair.host))["READY"], "1")
        XCTAssertNil(IsolationChannel.receive(on: pair.host, wait: false), "nothing else was sent")
        close(pair.child)
        XCTAssertNil(IsolationChannel.receive(on: pair.host), "the other end's close reads as the end")
        XCTAssertFalse(IsolationChannel.send([("STOP", "x")], on: pair.host), "a send to a closed peer fails")
    }

    func testTheChildsJSONLogLinesAreReadBack() throws {
        let line =
            #"{"timestamp":"2026-11-27T18:00:00.000Z","level":"warning","label":"web.server","plugin":"web","message":"a \"quoted\" line\nand é \u00e9 \u001b","metadata":{"port":"8080","path":"/a\\b"}}"#
        let record = try XCTUnwrap(ChildLogRecord(parsing: line[...]))
        XCTAssertEqual(record.level, .warning)
        XCTAssertEqual(record.label, "web.server")
        XCTAssertEqual(record.plugin, "web")
        XCTAssertEqual(record.message, "a \"quoted\" line\nand é é \u{1b}")
        XCTAssertEqual(record.metadata, ["port": "8080", "path": "/a\\b"])

        let hostLine =
            #"{"timestamp":"t","level":"notice","label":"aiorun-host","plugin":null,"message":"m","metadata":{}}"#
        let hostRecord = try XCTUnwrap(ChildLogRecord(parsing: hostLine[...]))
        XCTAssertNil(hostRecord.plugin)
        XCTAssertEqual(hostRecord.level, .notice)
    }

    func testLinesThatAreNotRecordsAreRefused() {
        for line in [
            "Fatal error: crasher boom", "{", "{}", #"{"level":"loud","message":"m"}"#,
            #"{"level":"info","message":"m"} trailing"#, #"{"level":"info","message":"unterminated}"#,
            #"{"level":"info","message":42}"#,
        ] {
            XCTAssertNil(ChildLogRecord(parsing: line[...]), line)
        }
    }

    func testAWorkerDescriptionSurvivesItsArguments() throws {
        var worker = IsolatedWorker(
            name: "web",
            path: "/opt/plugins/libweb.so",
            shutdownTimeout: .milliseconds(1500),
            startupTimeout: .seconds(20),
            executorWorkers: 3,
            loadTimeout: .seconds(60)
        )
        worker.config = ["greeting": "hi=there", "empty": "", "multi": "a\nb", "a=b": "x", "100%": "%3D", "%3D": "y"]
        worker.stopOnUnhandledErrors = true
        worker.logLevel = .debug
        worker.openFilesLimit = 256
        let read = try XCTUnwrap(IsolatedWorker(arguments: worker.arguments))
        XCTAssertEqual(read.name, "web")
        XCTAssertEqual(read.path, "/opt/plugins/libweb.so")
        XCTAssertEqual(read.shutdownTimeout, .milliseconds(1500))
        XCTAssertEqual(read.startupTimeout, .seconds(20))
        XCTAssertEqual(read.executorWorkers, 3)
        XCTAssertEqual(read.config, worker.config)
        XCTAssertTrue(read.stopOnUnhandledErrors)
        XCTAssertFalse(read.allowInsecurePlugins)
        XCTAssertEqual(read.logLevel, .debug)
        XCTAssertEqual(read.openFilesLimit, 256)
        XCTAssertNil(IsolatedWorker(arguments: ["name=web"]), "arguments that are not the host's are refused")
        XCTAssertNil(IsolatedWorker(arguments: worker.arguments + ["stray"]))
    }

    func testStackFramesAreTold() {
        XCTAssertTrue(
            IsolatedProcess.isStackFrame(
                "3    libswiftCore.so                    0x00007fb9054f9280 _assertionFailure(_:_:file:line:flags:) + 221"
            )
        )
        XCTAssertFalse(IsolatedProcess.isStackFrame("CrasherPlugin.swift:108: Fatal error: crasher boom"))
        XCTAssertFalse(IsolatedProcess.isStackFrame("crasher line 3"))
    }

    func testLinesAreSplitWholeAndLongOnesCut() {
        var splitter = LineSplitter(limit: 8)
        XCTAssertEqual(splitter.take(Array("one\ntw".utf8)[...]), [Array("one".utf8)])
        XCTAssertEqual(splitter.take(Array("o\n\nthree".utf8)[...]), [Array("two".utf8), []])
        XCTAssertEqual(splitter.rest(), ["three"])
        XCTAssertEqual(splitter.rest(), [])
        let bytes: [UInt8] = [0x80, 0xFF, 0x00, 0x1B]
        XCTAssertEqual(splitter.take((bytes + [10])[...]), [bytes], "bytes are kept as they are")
        let long = [UInt8](repeating: UInt8(ascii: "x"), count: 8 * 2 + 3)
        XCTAssertEqual(splitter.take(long[...]).map(\.count), [8, 8])
        XCTAssertEqual(splitter.take(Array("y\n".utf8)[...]).map(\.count), [4], "the rest of the long line")
    }

    func testSizesAreNamedInMebibytes() {
        XCTAssertEqual(IsolatedProcess.Ending.mebibytes(64 << 20), "64.0 MiB")
        XCTAssertEqual(IsolatedProcess.Ending.mebibytes(76_126_208), "72.6 MiB")
    }
}
