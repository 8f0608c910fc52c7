import AioRunPluginAPI
import Foundation
import Logging
import XCTest

@testable import AioRun

/// After an in-process teardown every executor thread has been joined and no file descriptor
/// the runtime opened is left open.
final class HygieneTests: XCTestCase {
    /// Open descriptors and what they point to, without the one the listing itself used.
    func openDescriptors() throws -> Set<String> {
        Set(
            try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { fd in
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")).map {
                    "\(fd) -> \($0)"
                }
            }
        )
    }

    func poolThreads() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").filter { task in
            let comm = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)
            return comm?.trimmingCharacters(in: .whitespacesAndNewlines) == ExecutorPool.threadName
        }.count
    }

    func testTeardownJoinsEveryPoolThreadAndLeavesNoDescriptorOpen() async throws {
        // Warm up what the process sets up once and keeps (libdispatch's signal machinery and its
        // per-clock timerfds, the control thread) so that only what this manager opens is counted.
        let warmup = await LifecycleManager(options: LifecycleOptions(), logger: Logger(label: "warmup"))
        _ = warmup
        try await Task.sleep(until: .now + .milliseconds(1), clock: .continuous)
        try await Task.sleep(until: .now + .milliseconds(1), clock: .suspending)
        let before = try openDescriptors()
        XCTAssertEqual(try poolThreads(), 0)

        let options = LifecycleOptions(taskShutdownTimeout: .seconds(10), executorWorkers: 4)
        let manager = await LifecycleManager(options: options, logger: Logger(label: "hygiene"))
        let units = (0..<3).map { manager.addUnit(name: "unit\($0)", config: PluginConfig()) }
        let mains: [(unit: ManagedUnit, main: @Sendable () async throws -> Void)] = units.enumerated().map {
            index,
            unit in
            let context = unit.context
            return (
                unit,
                {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for job in 0..<8 {
                            group.addTask { try await context.executor.run("job \(job)") { sleepMillis(20) } }
                        }
                        try await group.waitForAll()
                    }
                    context.spawn("sleeper") { try await Task.sleep(for: .seconds(3600)) }
                    if index == units.count - 1 { context.requestShutdown(reason: "test done") }
                }
            )
        }
        let running = Task { await manager.run(mains) }
        let report = await running.value
        XCTAssertEqual(report.exitCode, 0)
        XCTAssertEqual(report.units.map(\.name), ["unit2", "unit1", "unit0"])
        for unit in units { XCTAssertEqual(unit.scope.pool.liveThreads, 0) }
        XCTAssertEqual(try poolThreads(), 0, "every pool thread was joined")
        let after = try openDescriptors()
        XCTAssertEqual(after.subtracting(before), [], "descriptors left open")
    }
}
