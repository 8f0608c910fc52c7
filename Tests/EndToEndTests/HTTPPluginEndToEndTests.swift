import Foundation
import Synchronization
import XCTest

/// Real servers as plugins (issue 6): examples/HTTPPlugin, a Hummingbird server, built by the
/// test with `swift build` and run in the real host, driven over loopback with a raw-socket
/// HTTP/1.1 client. Every wait is bounded.
final class HTTPPluginEndToEndTests: XCTestCase {
    /// Two instances of the same .so under aliases, on two ports: each answers `/` with its own
    /// name, Hummingbird's own request log lines reach the host's output named with the instance,
    /// and SIGTERM stops both with exit 0.
    func testAliasesAnswerWithTheirNamesAndLogRequests() throws {
        let library = try HTTPPluginLibrary.path()
        let (portA, portB) = try FreePorts.two()
        let host = try ChildProcess.host([
            "a=\(library)", "b=\(library)", "--set", "a.port=\(portA)", "--set", "b.port=\(portB)",
        ])
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(30))
        try waitUntilServing(port: portA, host: host)
        try waitUntilServing(port: portB, host: host)

        let answerA = HTTPClient.get(port: portA, path: "/")
        let answerB = HTTPClient.get(port: portB, path: "/")
        XCTAssertEqual(answerA.status, 200, "\(answerA)")
        XCTAssertEqual(answerA.body, "a", "\(answerA)")
        XCTAssertEqual(answerB.status, 200, "\(answerB)")
        XCTAssertEqual(answerB.body, "b", "\(answerB)")

        // Hummingbird's LogRequestsMiddleware line, attributed to the instance that served it.
        let logA = try host.waitForLine(containing: "[a] Request", within: .seconds(10))
        let logB = try host.waitForLine(containing: "[b] Request", within: .seconds(10))
        XCTAssertTrue(logA.text.contains("hb.request.method=GET"), logA.text)
        XCTAssertTrue(logA.text.contains("port=\(portA)"), logA.text)
        XCTAssertTrue(logB.text.contains("hb.request.method=GET"), logB.text)
        XCTAssertTrue(logB.text.contains("port=\(portB)"), logB.text)
        XCTAssertTrue(
            host.lines(containing: "[a] Request").allSatisfy { $0.contains("port=\(portA)") },
            "a request of b was attributed to a:\n\(host.transcript)"
        )
        XCTAssertTrue(
            host.lines(containing: "[b] Request").allSatisfy { $0.contains("port=\(portB)") },
            "a request of a was attributed to b:\n\(host.transcript)"
        )

        try host.stop(with: SIGTERM, expecting: 0, within: .seconds(30))
        XCTAssertNotNil(host.index(of: "stopped plugin b"), host.transcript)
        XCTAssertNotNil(host.index(of: "stopped plugin a"), host.transcript)
    }

    /// A 1 s request in flight at SIGTERM completes with 200. During b's drain (b is torn down
    /// first, reverse load order), b refuses new connections while a still serves; afterwards both
    /// ports are closed and the exit code is 0.
    func testSlowRequestInFlightAtSIGTERMCompletesAndPortsClose() throws {
        let library = try HTTPPluginLibrary.path()
        let (portA, portB) = try FreePorts.two()
        let host = try ChildProcess.host([
            "a=\(library)", "b=\(library)", "--set", "a.port=\(portA)", "--set", "b.port=\(portB)",
        ])
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(30))
        try waitUntilServing(port: portA, host: host)
        try waitUntilServing(port: portB, host: host)

        let slowB = InFlightRequest(port: portB, path: "/slow?ms=1000")
        let slowA = InFlightRequest(port: portA, path: "/slow?ms=1000")
        // Both requests are inside their handlers once their request log lines are out.
        try host.waitForLine(containing: "hb.request.path=/slow?ms=1000 port=\(portB)", within: .seconds(10))
        try host.waitForLine(containing: "hb.request.path=/slow?ms=1000 port=\(portA)", within: .seconds(10))
        let signalled = ContinuousClock.now
        host.send(SIGTERM)

        // b drains first: its listener closes at once, while its slow request is still running.
        let refusedB = try waitUntilRefused(port: portB, within: .seconds(10), host: host)
        XCTAssertNil(
            slowB.finished,
            "b's slow request ended before b refused new connections: \(String(describing: slowB.finished))"
        )
        // a is untouched until b has stopped: it still answers.
        let duringDrain = HTTPClient.get(port: portA, path: "/")
        XCTAssertEqual(
            duringDrain.status,
            200,
            "a stopped serving during b's drain: \(duringDrain)\n\(host.transcript)"
        )
        XCTAssertNil(
            slowB.finished,
            "b's slow request ended before the check of a: \(String(describing: slowB.finished))"
        )

        let resultB = try slowB.wait(within: .seconds(20))
        let resultA = try slowA.wait(within: .seconds(20))
        XCTAssertEqual(resultB.response.status, 200, "\(resultB.response)\n\(host.transcript)")
        XCTAssertEqual(resultB.response.body, "slow done", "\(resultB.response)")
        XCTAssertEqual(resultA.response.status, 200, "\(resultA.response)\n\(host.transcript)")
        XCTAssertEqual(resultA.response.body, "slow done", "\(resultA.response)")
        XCTAssertGreaterThan(resultB.at, refusedB, "b refused only after its slow request ended")

        let exit = try host.expectExit(0, within: .seconds(30))
        print(
            "HTTPPlugin drain: b refused new connections \(refusedB - signalled) after SIGTERM; slow request done "
                + "\(resultB.at - signalled) after SIGTERM; host exited \(exit.at - signalled) after SIGTERM"
        )
        for port in [portA, portB] {
            let after = HTTPClient.get(port: port, path: "/")
            XCTAssertTrue(after.refused, "port \(port) still open after exit: \(after)")
        }
        // Reverse load order, each fully before the next.
        let stoppedB = try XCTUnwrap(host.index(of: "stopped plugin b"), host.transcript)
        let stoppedA = try XCTUnwrap(host.index(of: "stopped plugin a"), host.transcript)
        XCTAssertLessThan(stoppedB, stoppedA, host.transcript)
        XCTAssertTrue(host.lines(containing: "stopped plugin").allSatisfy { $0.contains("[ok]") }, host.transcript)
    }

    /// A 5 s request with `--task-shutdown-timeout 0.5`: the drain is cut at the time limit, the
    /// plugin is named in the time-limit line, and the exit code is 70, well before 5 s.
    func testTimeLimitCutsALongDrainWithExit70() throws {
        let library = try HTTPPluginLibrary.path()
        let port = try FreePorts.one()
        let host = try ChildProcess.host([library, "--set", "http.port=\(port)", "--task-shutdown-timeout", "0.5"])
        try host.waitForLine(containing: "ready: 1 plugins running", within: .seconds(30))
        try waitUntilServing(port: port, host: host)

        let slow = InFlightRequest(port: port, path: "/slow?ms=5000")
        try host.waitForLine(containing: "hb.request.path=/slow?ms=5000", within: .seconds(10))
        let exit = try host.stop(with: SIGTERM, expecting: 70, within: .seconds(30))
        XCTAssertLessThan(exit.afterSignal, .seconds(4), "the host waited for the 5 s request:\n\(host.transcript)")
        let limitLine = try host.waitForLine(containing: "time limit of", within: .seconds(1))
        XCTAssertTrue(limitLine.text.contains("[http]"), limitLine.text)
        XCTAssertTrue(limitLine.text.contains("http server"), "the abandoned shield is not named: \(limitLine.text)")
        XCTAssertNotNil(host.index(of: "stopped plugin http"), host.transcript)
        print("HTTPPlugin time limit: exit 70 \(exit.afterSignal) after SIGTERM")
        _ = try slow.wait(within: .seconds(20))  // the connection dies with the host
    }

    /// A port that is missing, malformed or out of range rejects the plugin at load: exit 65.
    func testBadPortRejectsThePluginAtLoad() throws {
        let library = try HTTPPluginLibrary.path()
        for arguments in [[library], [library, "--set", "http.port=abc"], [library, "--set", "http.port=70000"]] {
            let host = try ChildProcess.host(arguments)
            try host.expectExit(65, within: .seconds(30))
            XCTAssertNotNil(host.index(of: "port"), host.transcript)
            XCTAssertNil(host.index(of: "ready:"), host.transcript)
        }
    }

    /// Under load, nothing accepted is lost: 8 client threads hammer both aliases through a
    /// SIGTERM. A request is *accepted* when the server has read it: its `Request` log line (each
    /// request carries a unique `id` in its query) is in the host's output. Every accepted request
    /// gets a complete 200, including the ones in flight at the signal. Requests that got a TCP
    /// connection from the kernel but were not yet read when their server quiesced are reset by
    /// NIO/Hummingbird's graceful shutdown; they are counted and printed, not asserted (see
    /// examples/HTTPPlugin/SERVER-PLUGINS.md, "What the drain does not cover").
    func testUnderLoadNothingAcceptedIsLost() throws {
        let library = try HTTPPluginLibrary.path()
        let (portA, portB) = try FreePorts.two()
        let host = try ChildProcess.host([
            "a=\(library)", "b=\(library)", "--set", "a.port=\(portA)", "--set", "b.port=\(portB)",
        ])
        try host.waitForLine(containing: "ready: 2 plugins running", within: .seconds(30))
        try waitUntilServing(port: portA, host: host)
        try waitUntilServing(port: portB, host: host)

        let signal = SignalTime()
        let clients = 8
        let load = LoadGenerator(
            ports: (0..<clients).map { $0 % 2 == 0 ? portA : portB },
            path: "/slow?ms=20",
            maxRequestsPerClient: 5000,
            until: .now + .seconds(90),
            signal: signal
        )
        // Let the load get going, then run for 2 s more before the signal.
        let warm = ContinuousClock.now + .seconds(30)
        while load.completedOK < 40 && ContinuousClock.now < warm { usleep(10_000) }
        XCTAssertGreaterThanOrEqual(load.completedOK, 40, "the load never got going:\n\(host.transcript)")
        usleep(2_000_000)
        signal.mark()
        let exit = try host.stop(with: SIGTERM, expecting: 0, within: .seconds(60))
        XCTAssertTrue(load.join(within: .seconds(60)), "client threads did not end")

        let records = load.records
        let signalled = try XCTUnwrap(signal.at)
        let accepted = Set(host.lines(containing: "[a] Request").compactMap(LoadGenerator.requestID(inLogLine:)))
            .union(host.lines(containing: "[b] Request").compactMap(LoadGenerator.requestID(inLogLine:)))
        let wasSent = { (record: LoadGenerator.Record) in record.sentAt.map { $0 < signalled } ?? false }
        let before = records.filter(wasSent)
        let beforeAccepted = before.filter { accepted.contains($0.id) }
        let beforeAcceptedOK = beforeAccepted.filter { $0.response.isComplete200 }
        let beforeUnread = before.filter { !accepted.contains($0.id) }
        let inFlightAtSignal = beforeAccepted.filter { $0.finishedAt > signalled }
        let after = records.filter { !wasSent($0) }
        let afterAccepted = after.filter { accepted.contains($0.id) }
        let afterOK = after.filter { $0.response.isComplete200 }
        let afterRefused = after.filter { $0.response.refused }
        print(
            "HTTPPlugin load through SIGTERM (\(records.count) requests by \(clients) clients, /slow?ms=20 on 2 aliases):"
        )
        print(
            "  sent before SIGTERM: \(before.count); read by the server: \(beforeAccepted.count), of them complete 200: "
                + "\(beforeAcceptedOK.count), in flight at SIGTERM: \(inFlightAtSignal.count); "
                + "never read by the server (reset at its quiesce): \(beforeUnread.count)"
        )
        print(
            "  sent after SIGTERM: \(after.count); read by the server: \(afterAccepted.count), complete 200: "
                + "\(afterOK.count), refused: \(afterRefused.count)"
        )
        print("  host exited \(exit.afterSignal) after SIGTERM, exit code \(exit.code)")
        let lost = records.filter { accepted.contains($0.id) && !$0.response.isComplete200 }
        XCTAssertTrue(lost.isEmpty, "requests the server had read were lost: \(lost.prefix(5))\n\(host.transcript)")
        XCTAssertGreaterThan(
            inFlightAtSignal.count,
            0,
            "no accepted request was in flight at SIGTERM: the test proved nothing"
        )
        XCTAssertTrue(
            records.filter { $0.response.isComplete200 }.allSatisfy { accepted.contains($0.id) },
            "a 200 without a request log line: the log check is broken"
        )
        XCTAssertTrue(
            beforeUnread.allSatisfy { !$0.response.isComplete200 && $0.response.status == nil },
            "a request the server never logged got a response: \(beforeUnread.prefix(5))"
        )
    }

    // MARK: - Helpers

    /// Polls `GET /` until the server answers 200 (it binds after `run()` starts). Bounded.
    private func waitUntilServing(
        port: Int,
        host: ChildProcess,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let deadline = ContinuousClock.now + .seconds(30)
        var last = HTTPResponse(error: "not tried")
        while ContinuousClock.now < deadline {
            last = HTTPClient.get(port: port, path: "/", timeout: .seconds(5))
            if last.status == 200 { return }
            usleep(20_000)
        }
        XCTFail("port \(port) never answered: \(last)\n\(host.transcript)", file: file, line: line)
        throw HostTestError.timeout
    }

    /// Polls a fresh connection until it is refused; returns when. Bounded.
    private func waitUntilRefused(
        port: Int,
        within timeout: Duration,
        host: ChildProcess,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if HTTPClient.connectRefused(port: port) { return .now }
            usleep(2_000)
        }
        XCTFail(
            "port \(port) still accepted connections \(timeout) after SIGTERM\n\(host.transcript)",
            file: file,
            line: line
        )
        throw HostTestError.timeout
    }
}

// MARK: - Building the example

/// examples/HTTPPlugin, built once per test run (the first test that needs it builds it).
private enum HTTPPluginLibrary {
    private static let built: Result<String, HostTestError> = {
        let package = Products.repositoryRoot.appendingPathComponent("examples/HTTPPlugin")
        let started = ContinuousClock.now
        do {
            // A fresh clone (CI) builds Hummingbird and NIO from scratch: minutes on 2 cores.
            let build = try ChildProcess(
                URL(fileURLWithPath: "/usr/bin/env"),
                ["swift", "build", "--package-path", package.path]
            )
            let result = try build.waitForExit(within: .seconds(25 * 60))
            guard result.code == 0 else {
                return .failure(
                    .buildFailed("swift build of examples/HTTPPlugin exited \(result.code):\n\(build.transcript)")
                )
            }
        } catch let error as HostTestError {
            return .failure(error)
        } catch {
            return .failure(.buildFailed("could not start swift build: \(error)"))
        }
        print("HTTPPlugin: swift build --package-path examples/HTTPPlugin took \(ContinuousClock.now - started)")
        let library = package.appendingPathComponent(".build/debug/libhttp.so").path
        guard FileManager.default.fileExists(atPath: library) else {
            return .failure(.buildFailed("the build did not produce \(library)"))
        }
        return .success(library)
    }()

    /// The path of libhttp.so; builds it on first use. Fails the calling test if the build failed.
    static func path(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        switch built {
        case .success(let path):
            return path
        case .failure(let error):
            XCTFail("examples/HTTPPlugin did not build: \(error)", file: file, line: line)
            throw error
        }
    }
}

// MARK: - Ports

/// Free loopback ports, found by binding port 0.
private enum FreePorts {
    static func one() throws -> Int {
        let socket = try BoundSocket()
        return socket.port
    }

    /// Two distinct ports: both sockets stay bound until both ports are known.
    static func two() throws -> (Int, Int) {
        let first = try BoundSocket()
        let second = try BoundSocket()
        return (first.port, second.port)
    }

    /// A TCP socket bound to 127.0.0.1:0 (never listening), closed on deinit.
    private final class BoundSocket {
        let fd: Int32
        let port: Int

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw HostTestError.buildFailed("socket: errno \(errno)") }
            var address = sockaddr_in.loopback(port: 0)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                close(fd)
                throw HostTestError.buildFailed("bind: errno \(errno)")
            }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            self.fd = fd
            self.port = Int(UInt16(bigEndian: address.sin_port))
        }

        deinit { close(fd) }
    }
}

extension sockaddr_in {
    /// 127.0.0.1:`port`.
    fileprivate static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}

// MARK: - A small HTTP/1.1 client over loopback

/// What one request got: a parsed response, or how it failed.
private struct HTTPResponse: Sendable, CustomStringConvertible {
    var status: Int?
    var body: String = ""
    /// The body was as long as its Content-Length said.
    var complete = false
    /// connect() was refused: nothing listens on the port.
    var refused = false
    /// The connection was reset or closed before a complete response.
    var reset = false
    var error: String?
    /// When connect() returned and when the request was fully written, if it got that far.
    var connectedAt: ContinuousClock.Instant?
    var sentAt: ContinuousClock.Instant?

    init(error: String? = nil) { self.error = error }

    var isComplete200: Bool { status == 200 && complete }

    var description: String {
        if refused { return "refused" }
        if let error { return "error(\(error))\(reset ? " reset" : "")" }
        return
            "HTTP \(status.map(String.init) ?? "?") \(complete ? "complete" : "incomplete") body=\(body.debugDescription)"
    }
}

private enum HTTPClient {
    /// Whether a TCP connect to 127.0.0.1:`port` is refused right now.
    static func connectRefused(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        setTimeouts(fd, .seconds(2))
        var address = sockaddr_in.loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result != 0 && errno == ECONNREFUSED
    }

    /// `GET path` on 127.0.0.1:`port` with `Connection: close`; every step bounded by `timeout`.
    static func get(port: Int, path: String, timeout: Duration = .seconds(15)) -> HTTPResponse {
        let deadline = ContinuousClock.now + timeout
        var response = HTTPResponse()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return HTTPResponse(error: "socket: errno \(errno)") }
        defer { close(fd) }
        setTimeouts(fd, .milliseconds(200))
        var address = sockaddr_in.loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            response.refused = code == ECONNREFUSED
            response.error = response.refused ? nil : "connect: errno \(code)"
            return response
        }
        response.connectedAt = .now

        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
        var offset = 0
        while offset < request.count {
            let written = request[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written > 0 {
                offset += written
            } else if written < 0 && (errno == EINTR || errno == EAGAIN) && ContinuousClock.now < deadline {
                continue
            } else {
                response.reset = true
                response.error = "send: errno \(errno)"
                return response
            }
        }
        response.sentAt = .now

        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            if parse(received, into: &response) { return response }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received.append(contentsOf: chunk[0..<count])
            } else if count == 0 {
                _ = parse(received, into: &response)
                if !response.complete {
                    response.reset = true
                    response.error = "closed after \(received.count) bytes"
                }
                return response
            } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) && ContinuousClock.now < deadline {
                continue
            } else {
                response.reset = errno == ECONNRESET
                response.error =
                    errno == EAGAIN || errno == EWOULDBLOCK ? "no response within \(timeout)" : "recv: errno \(errno)"
                return response
            }
        }
    }

    /// Parses a response with a Content-Length body; true once it is complete.
    private static func parse(_ bytes: [UInt8], into response: inout HTTPResponse) -> Bool {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4,
            let end = (0...(bytes.count - 4)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(separator) })
        else { return false }
        let head = String(decoding: bytes[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head.first?.split(separator: " ") ?? []
        response.status = statusParts.count >= 2 ? Int(statusParts[1]) : nil
        var length: Int?
        for line in head.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                length = Int(parts[1].trimmingCharacters(in: .whitespaces))
            }
        }
        let body = bytes[(end + 4)...]
        response.body = String(decoding: body, as: UTF8.self)
        guard let length else { return false }  // read to EOF; incomplete if it never says
        response.complete = body.count >= length
        return response.complete
    }

    private static func setTimeouts(_ fd: Int32, _ timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// One request on its own thread; `finished` tells whether (and when) it ended.
private final class InFlightRequest: Sendable {
    private let state = Mutex<(response: HTTPResponse, at: ContinuousClock.Instant)?>(nil)

    init(port: Int, path: String, timeout: Duration = .seconds(30)) {
        Thread { [self] in
            let response = HTTPClient.get(port: port, path: path, timeout: timeout)
            state.withLock { $0 = (response, .now) }
        }.start()
    }

    var finished: (response: HTTPResponse, at: ContinuousClock.Instant)? { state.withLock { $0 } }

    /// Waits until the request ended. Fails the test on timeout.
    func wait(
        within timeout: Duration,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> (response: HTTPResponse, at: ContinuousClock.Instant) {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let finished { return finished }
            usleep(5_000)
        }
        XCTFail("request did not end within \(timeout)", file: file, line: line)
        throw HostTestError.timeout
    }
}

/// Client threads, one per entry of `ports`, each making requests in a loop until it has made
/// `maxRequestsPerClient`, `until` passes, or (after the signal) its server refuses it.
private final class LoadGenerator: Sendable {
    struct Record: Sendable, CustomStringConvertible {
        let id: String
        let port: Int
        let response: HTTPResponse
        let finishedAt: ContinuousClock.Instant
        var sentAt: ContinuousClock.Instant? { response.sentAt }
        var description: String { "id \(id) port \(port): \(response)" }
    }

    /// The `id` query value in a `Request` log line (`hb.request.path=/slow?ms=20&id=3-17`).
    static func requestID(inLogLine line: String) -> String? {
        guard let range = line.range(of: "&id=") else { return nil }
        return String(line[range.upperBound...].prefix { $0 != " " })
    }

    private let state = Mutex<(records: [Record], running: Int)>(([], 0))

    init(
        ports: [Int],
        path: String,
        maxRequestsPerClient: Int,
        until deadline: ContinuousClock.Instant,
        signal: SignalTime
    ) {
        state.withLock { $0.running = ports.count }
        for (client, port) in ports.enumerated() {
            Thread { [self] in
                for number in 0..<maxRequestsPerClient where ContinuousClock.now < deadline {
                    let id = "\(client)-\(number)"
                    let response = HTTPClient.get(port: port, path: "\(path)&id=\(id)", timeout: .seconds(20))
                    state.withLock {
                        $0.records.append(Record(id: id, port: port, response: response, finishedAt: .now))
                    }
                    if !response.isComplete200 && signal.isSet { break }  // the server is going away
                    if !response.isComplete200 { usleep(10_000) }
                }
                state.withLock { $0.running -= 1 }
            }.start()
        }
    }

    var records: [Record] { state.withLock { $0.records } }
    var completedOK: Int { state.withLock { $0.records.filter { $0.response.isComplete200 }.count } }

    /// Waits until every client thread has ended; false on timeout.
    func join(within timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.running }) == 0 { return true }
            usleep(10_000)
        }
        return false
    }
}

/// When the test sent SIGTERM, shared with the client threads.
private final class SignalTime: Sendable {
    private let state = Mutex<ContinuousClock.Instant?>(nil)
    func mark() { state.withLock { $0 = .now } }
    var at: ContinuousClock.Instant? { state.withLock { $0 } }
    var isSet: Bool { at != nil }
}
