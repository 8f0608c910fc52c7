import AioRunPluginAPI
import Logging
import XCTest

@testable import AioRun

/// A plugin that records the context it was made with and what its `run()` saw.
private final class RecordingPlugin: AioRunPlugin {
    let context: PluginContext
    let ranWith = LockedValue<String?>(nil)

    init(context: PluginContext) {
        self.context = context
    }

    func run() async throws {
        ranWith.withLock { $0 = PluginContext.current?.name }
        context.requestShutdown(reason: "done")
    }
}

private struct MakeFailed: Error {}

/// A unit owns its main: `addUnit(…, make:)` creates the plugin with its context bound and runs
/// the instance's `run()`; the exit code of a shutdown is decided in one place.
final class ManagedUnitTests: XCTestCase {
    func testMakeSeesItsContextAndTheUnitRunsTheInstance() async throws {
        let manager = await LifecycleManager(options: LifecycleOptions(), logger: Logger(label: "units"))
        let madeWith = LockedValue<String?>(nil)
        let made = LockedValue<RecordingPlugin?>(nil)
        XCTAssertThrowsError(
            try manager.addUnit(name: "broken", config: PluginConfig()) { _ in throw MakeFailed() }
        ) { XCTAssert($0 is MakeFailed) }
        let unit = manager.addUnit(name: "first", config: PluginConfig()) { context in
            madeWith.withLock { $0 = PluginContext.current?.name }
            let plugin = RecordingPlugin(context: context)
            made.withLock { $0 = plugin }
            return plugin
        }
        XCTAssertEqual(madeWith.withLock { $0 }, "first", "make ran with its context as PluginContext.current")
        XCTAssertNil(PluginContext.current, "the binding ends with make")
        let report = await manager.run([unit])
        XCTAssertEqual(report.exitCode, AioRunExitCode.clean)
        XCTAssertEqual(made.withLock { $0 }?.ranWith.withLock { $0 }, "first")
        XCTAssertEqual(
            report.units.map(\.name),
            ["first", "broken"],
            "a unit whose make threw is torn down too: work its initializer started is stopped"
        )
    }

    func testExitCodeAfterShutdown() {
        typealias Code = AioRunExitCode
        XCTAssertEqual(Code.afterShutdown(stoppedForUnhandledError: false, abandonedAny: false), Code.clean)
        XCTAssertEqual(Code.afterShutdown(stoppedForUnhandledError: false, abandonedAny: true), Code.abandoned)
        XCTAssertEqual(
            Code.afterShutdown(stoppedForUnhandledError: true, abandonedAny: true),
            Code.unhandledError,
            "the failure is the cause"
        )
        XCTAssertEqual(Code.afterPluginExit(status: 0), Code.abandoned)
        XCTAssertEqual(Code.afterPluginExit(status: 3), 3)
    }
}
