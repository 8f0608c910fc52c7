import Foundation
import Synchronization
import XCTest

// Shared by the end-to-end tests that run examples/HTTPPlugin (HTTPPluginEndToEndTests,
// ReadinessEndToEndTests, DrainDelayEndToEndTests): building the example, free ports, a raw-socket
// HTTP/1.1 client over loopback, and bounded waits on a port. Every wait is bounded.

// MARK: - Waiting on a port

extension XCTestCase {

    /// Polls `GET /` until the server answers 200 (it binds after `run()` starts). Bounded.
    func waitUntilServing(
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
    func waitUntilRefused(
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
enum HTTPPluginLibrary {
    // A fresh clone (CI) builds Hummingbird and NIO from scratch: minutes on 2 cores.
    private static let built = ExampleBuild.build(
        "examples/HTTPPlugin",
        library: "libhttp.so",
        within: .seconds(25 * 60)
    )

    /// The path of libhttp.so; builds it on first use. Fails the calling test if the build failed.
    static func path(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        try ExampleBuild.path(of: built, "examples/HTTPPlugin", file: file, line: line)
    }
}

/// Builds an example package of this repository with `swift build` (debug), bounded.
enum ExampleBuild {
    /// Builds `folder` (relative to the repository) and returns the path of its `library`.
    static func build(_ folder: String, library: String, within limit: Duration) -> Result<String, HostTestError> {
        let package = Products.repositoryRoot.appendingPathComponent(folder)
        let started = ContinuousClock.now
        do {
            let build = try ChildProcess(
                URL(fileURLWithPath: "/usr/bin/env"),
                ["swift", "build", "--package-path", package.path]
            )
            let result = try build.waitForExit(within: limit)
            guard result.code == 0 else {
                return .failure(.buildFailed("swift build of \(folder) exited \(result.code):\n\(build.transcript)"))
            }
        } catch let error as HostTestError {
            return .failure(error)
        } catch {
            return .failure(.buildFailed("could not start swift build: \(error)"))
        }
        print("\(folder): swift build --package-path \(folder) took \(ContinuousClock.now - started)")
        let path = package.appendingPathComponent(".build/debug/\(library)").path
        guard FileManager.default.fileExists(atPath: path) else {
            return .failure(.buildFailed("the build did not produce \(path)"))
        }
        return .success(path)
    }

    /// The built library's path, or a test failure naming the example.
    static func path(
        of built: Result<String, HostTestError>,
        _ folder: String,
        file: StaticString,
        line: UInt
    ) throws -> String {
        switch built {
        case .success(let path):
            return path
        case .failure(let error):
            XCTFail("\(folder) did not build: \(error)", file: file, line: line)
            throw error
        }
    }
}

// MARK: - Ports

/// Free loopback ports, found by binding port 0.
enum FreePorts {
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
    final class BoundSocket {
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
    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}

// MARK: - A small HTTP/1.1 client over loopback

/// What one request got: a parsed response, or how it failed.
struct HTTPResponse: Sendable, CustomStringConvertible {
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

enum HTTPClient {
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
final class InFlightRequest: Sendable {
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
