import Synchronization
import XCTest

@testable import AioRun

/// Collects what a unit reports, for assertions.
final class EventLog: Sendable {
    let entries = LockedValue<[String]>([])

    var events: UnitEvents {
        UnitEvents(
            unhandled: { plugin, what, error in
                self.entries.withLock { $0.append("unhandled \(plugin) \(what): \(error)") }
            },
            requestShutdown: { plugin, reason in self.entries.withLock { $0.append("request \(plugin) \(reason)") } },
            warn: { plugin, message in self.entries.withLock { $0.append("warn \(plugin) \(message)") } }
        )
    }

    var all: [String] { entries.withLock { $0 } }
}

/// The runtime's pthread-backed lock, which ThreadSanitizer can see.
typealias Locked = LockedValue

struct Boom: Error, Equatable, CustomStringConvertible {
    let id: Int
    var description: String { "boom \(id)" }
}

func makeScope(_ log: EventLog, workers: Int = 2) -> UnitScope {
    UnitScope(name: "unit", executorWorkers: workers, shutdownTimeout: .seconds(5), events: log.events)
}

/// Waits (bounded) until `condition` holds.
func eventually(_ timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}
