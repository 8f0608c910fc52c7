import Foundation
import XCTest

@testable import AioRun

/// The bounded log queue on a pipe the test controls (see README, "Failure modes"): lines keep
/// their order, every line is either written or counted in a notice at the place it went
/// missing, and draining never waits on a stalled reader beyond its bound.
final class BoundedLogWriterTests: XCTestCase {
    /// Four threads log 5000 numbered lines each into a one-page pipe that nobody reads until
    /// they are done. Then the test reads: lines written plus lines noticed as dropped add up
    /// to exactly 20 000, each thread's numbers only go up, and every gap has a notice in it.
    func testStalledReaderLosesLinesOnlyAsCountedDrops() throws {
        let pipe = try TestPipe(size: 4096)
        let writer = BoundedLogWriter(fd: pipe.writeEnd)
        let threads = 4
        let perThread = 5000
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for number in 0..<perThread { writer.write("t\(thread) \(number)\n") }
        }
        XCTAssertGreaterThan(writer.droppedLines, 0, "nothing was dropped: the queue is not bounded")

        var lines: [Substring] = []
        let deadline = ContinuousClock.now + .seconds(20)
        var accounted = 0
        while accounted < threads * perThread {
            guard ContinuousClock.now < deadline else {
                XCTFail("only \(accounted) of \(threads * perThread) lines written or noticed")
                return
            }
            let fresh = pipe.readAvailable()
            lines += fresh
            accounted += fresh.reduce(0) { total, line in
                total + (line.firstMatch(of: #/^aiorun: (\d+) log lines? dropped/#).map { Int($0.1)! } ?? 1)
            }
        }
        XCTAssertEqual(accounted, threads * perThread)
        XCTAssertEqual(lines.count(where: { $0.hasPrefix("aiorun:") }) > 0, true)

        var last = [Int](repeating: -1, count: threads)
        var noticeSinceLast = [Bool](repeating: false, count: threads)
        for line in lines {
            if line.hasPrefix("aiorun:") {
                noticeSinceLast = noticeSinceLast.map { _ in true }
                continue
            }
            let parts = line.dropFirst().split(separator: " ")
            let (thread, number) = (Int(parts[0])!, Int(parts[1])!)
            XCTAssertGreaterThan(number, last[thread], "thread \(thread): out of order")
            if number != last[thread] + 1 {
                XCTAssertTrue(
                    noticeSinceLast[thread],
                    "thread \(thread): \(last[thread]) → \(number) with no notice between"
                )
            }
            last[thread] = number
            noticeSinceLast[thread] = false
        }
        XCTAssertTrue(writer.drain(quietLimit: .seconds(5), totalLimit: .seconds(10)))
    }

    /// With a live reader nothing is dropped, and `drain` returns once all is written.
    func testLiveReaderGetsEveryLineInOrder() throws {
        let pipe = try TestPipe(size: 4096)
        let writer = BoundedLogWriter(fd: pipe.writeEnd)
        let reader = Thread {
            var received: [Substring] = []
            let deadline = ContinuousClock.now + .seconds(20)
            while received.count < 3000 && ContinuousClock.now < deadline { received += pipe.readAvailable() }
            pipe.received = received
        }
        reader.start()
        for number in 0..<3000 {
            writer.write("line \(number)\n")
            if number % 500 == 0 { usleep(20_000) }  // a few bursts, well within the queue
        }
        XCTAssertTrue(writer.drain(quietLimit: .seconds(5), totalLimit: .seconds(10)))
        let deadline = ContinuousClock.now + .seconds(20)
        while pipe.received == nil && ContinuousClock.now < deadline { usleep(5_000) }
        XCTAssertEqual(pipe.received, (0..<3000).map { "line \($0)" })
        XCTAssertEqual(writer.droppedLines, 0)
    }

    /// A reader that never reads: `drain` gives up after its quiet limit instead of waiting.
    func testDrainGivesUpOnAStalledReader() throws {
        let pipe = try TestPipe(size: 4096)
        let writer = BoundedLogWriter(fd: pipe.writeEnd)
        for number in 0..<2000 { writer.write("line \(number) of a reader that never reads\n") }
        let started = ContinuousClock.now
        XCTAssertFalse(writer.drain(quietLimit: .milliseconds(200), totalLimit: .seconds(30)))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10))
    }
}

/// A pipe for one test; its read end is non-blocking.
final class TestPipe: @unchecked Sendable {
    // Why this is safe: `received` is written once by the reader thread and read by the test
    // only after polling for it, under `lock`; the fds never change after `init`.
    let readEnd: Int32
    let writeEnd: Int32
    private let lock = NSLock()
    private var receivedStorage: [Substring]?
    private var pending: [UInt8] = []

    var received: [Substring]? {
        get { lock.withLock { receivedStorage } }
        set { lock.withLock { receivedStorage = newValue } }
    }

    init(size: Int32) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw POSIXError(.EMFILE) }
        (readEnd, writeEnd) = (fds[0], fds[1])
        _ = fcntl(writeEnd, 1031, size)  // 1031: F_SETPIPE_SZ
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
    }

    // The writer thread of a test's BoundedLogWriter lives on and may still write, so the
    // pipe's ends are left open rather than reused by a later test.

    /// The complete lines readable now (waits up to 50 ms for some).
    func readAvailable() -> [Substring] {
        var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        _ = poll(&poller, 1, 50)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            pending += buffer[0..<count]
        }
        guard let last = pending.lastIndex(of: 0x0a) else { return [] }
        let text = String(decoding: pending[...last], as: UTF8.self)
        pending.removeSubrange(...last)
        return text.split(separator: "\n")
    }
}
