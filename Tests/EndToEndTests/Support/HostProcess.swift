import Foundation
import Synchronization
import XCTest

/// One line of the process's merged stdout+stderr, with when it arrived.
struct OutputLine: Sendable {
    let text: String
    let at: ContinuousClock.Instant
}

/// A real child process (the host, or an example program) with its stdout and stderr merged into
/// one pipe, so that the order of plugin prints and log lines is the order they were written.
/// Every wait is bounded: on timeout the test fails and the process is killed.
final class ChildProcess: Sendable {
    let process: Process
    let started: ContinuousClock.Instant
    private let buffer = OutputBuffer()

    /// Starts `executable` with `arguments`. The environment is the test's, plus `environment`.
    init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], directory: URL? = nil) throws {
        let process = Process()
        process.currentDirectoryURL = directory
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        self.process = process
        let handle = pipe.fileHandleForReading
        let buffer = self.buffer
        let reader = Thread {
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 0x0a) {
                    let text = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    buffer.append(text)
                }
            }
            if !pending.isEmpty {
                buffer.append(String(decoding: pending, as: UTF8.self))
            }
            buffer.close()
        }
        started = .now
        try process.run()
        reader.start()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Everything printed so far.
    var output: [OutputLine] { buffer.lines }

    /// Everything printed so far, as one string, for failure messages.
    var transcript: String { output.map(\.text).joined(separator: "\n") }

    /// Sends `signal` to the process.
    func send(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits until a line containing `text` (and `other`, if given) appears; returns it. Fails
    /// the test on timeout.
    @discardableResult
    func waitForLine(
        containing text: String,
        andAlso other: String? = nil,
        within timeout: Duration,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> OutputLine {
        let deadline = ContinuousClock.now + timeout
        let matches = { (line: OutputLine) in line.text.contains(text) && (other.map(line.text.contains) ?? true) }
        while true {
            if let found = output.first(where: matches) { return found }
            if ContinuousClock.now > deadline || (buffer.isClosed && !process.isRunning) {
                if let found = output.first(where: matches) { return found }
                let also = other.map { " and \"\($0)\"" } ?? ""
                XCTFail(
                    "no line containing \"\(text)\"\(also) within \(timeout); output:\n\(transcript)",
                    file: file,
                    line: line
                )
                throw HostTestError.timeout
            }
            usleep(5_000)
        }
    }

    /// Waits for the process to exit and for its output to close; returns its exit code
    /// (or 128+signal if a signal killed it). On timeout, kills it and fails the test.
    func waitForExit(
        within timeout: Duration,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> (code: Int32, at: ContinuousClock.Instant) {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill(process.processIdentifier, SIGKILL)
                XCTFail("process did not exit within \(timeout); output:\n\(transcript)", file: file, line: line)
                throw HostTestError.timeout
            }
            usleep(5_000)
        }
        let exitedAt = ContinuousClock.now
        let drainDeadline = ContinuousClock.now + .seconds(5)
        while !buffer.isClosed && ContinuousClock.now < drainDeadline { usleep(5_000) }
        let status = process.terminationStatus
        let code = process.terminationReason == .uncaughtSignal ? 128 + status : status
        return (code, exitedAt)
    }

    /// The index of the first line containing `text`, or nil.
    func index(of text: String) -> Int? {
        output.firstIndex { $0.text.contains(text) }
    }

    /// Lines containing `text`, in order.
    func lines(containing text: String) -> [String] {
        output.map(\.text).filter { $0.contains(text) }
    }
}

enum HostTestError: Error {
    case timeout
    case buildFailed(String)
}

/// The lines read so far and whether the pipe has closed, behind one lock.
final class OutputBuffer: Sendable {
    private let state = Mutex<(lines: [OutputLine], closed: Bool)>(([], false))

    func append(_ text: String) {
        state.withLock { $0.lines.append(OutputLine(text: text, at: .now)) }
    }

    func close() {
        state.withLock { $0.closed = true }
    }

    var lines: [OutputLine] { state.withLock { $0.lines } }
    var isClosed: Bool { state.withLock { $0.closed } }
}
