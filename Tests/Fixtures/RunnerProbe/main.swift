// A program that the end-to-end tests drive through the in-process runner's features with real
// signals (README, "In-process use"). The first argument picks the scenario; each prints what
// the test waits for.
import AioRun

#if canImport(Glibc)
import Glibc
#endif

enum ProbeError: Error {
    case failed
    case badConfig
}

/// The dispositions of the signals a lifecycle manager changes, in one line.
func dispositions() -> String {
    let signals: [(String, Int32)] = [
        ("SIGINT", SIGINT), ("SIGTERM", SIGTERM), ("SIGHUP", SIGHUP), ("SIGUSR1", SIGUSR1),
        ("SIGUSR2", SIGUSR2), ("SIGPIPE", SIGPIPE),
    ]
    return signals.map { name, number in
        var action = sigaction()
        sigaction(number, nil, &action)
        let handler = unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self)
        return "\(name)=\(handler == 0 ? "SIG_DFL" : handler == 1 ? "SIG_IGN" : "handler")"
    }
    .joined(separator: " ")
}

/// Sleeps, for at most `seconds`, in the probe's main task.
func idle(_ seconds: Int) async {
    try? await Task.sleep(for: .seconds(seconds))
}

let scenario = CommandLine.arguments.dropFirst().first ?? ""

switch scenario {
// The returning runner, stopped by a signal, by requestShutdown or by an error; afterwards the
// dispositions are printed (SIGHUP was ignored before, as under nohup) and the program waits for
// the test's next signal.
case "restore-signal", "restore-request", "restore-error":
    signal(SIGHUP, SIG_IGN)
    print("before: \(dispositions())")
    var options = LifecycleOptions()
    options.stopOnUnhandledErrors = true
    do {
        let report = try await runUntilShutdown(options: options) {
            print("main running")
            switch scenario {
            case "restore-request":
                try requestShutdown(reason: "probe is done")
            case "restore-error":
                throw ProbeError.failed
            default:
                await idle(3600)
            }
        }
        print("runner returned: exit \(report.exitCode), trigger \(report.trigger?.description ?? "none")")
    } catch {
        print("runner threw \(error)")
    }
    print("after: \(dispositions())")
    print("runner returned")
    await idle(60)
    print("no signal came")

// A shutdown handler that finishes a unit of work, then stops.
case "handler":
    var options = LifecycleOptions()
    options.shutdownHandler = { signal in
        print("handler: \(signal.name)")
        try await Task.sleep(for: .milliseconds(500))
        print("unit of work finished")
        try requestShutdown(reason: "work finished after \(signal.name)")
    }
    await run(options: options) {
        try onShutdown { print("onShutdown ran") }
        print("main running")
    }

// A shutdown handler that never stops the program: a second signal still forces the exit.
case "handler-stuck":
    var options = LifecycleOptions()
    options.shutdownHandler = { signal in print("handler: \(signal.name); staying up") }
    await run(options: options) { print("main running") }

// Stopping with an error: the teardown runs, the exit code is 3.
case "stop-error":
    await run {
        try onShutdown { print("onShutdown ran") }
        print("main running")
        try requestShutdown(error: ProbeError.badConfig)
    }

// The log level, set without swift-log.
case "log-level":
    await run(logLevel: .warning) {
        PluginContext.current?.log.info("info from main")
        PluginContext.current?.log.warning("warning from main")
        try requestShutdown(reason: "log level shown")
    }

// The free functions, and a shield handle cancelled on purpose beside one that shutdown waits for.
case "free-functions":
    await run {
        try onShutdown("bye") { print("onShutdown bye") }
        try spawn("ticker") {
            do {
                while true { try await Task.sleep(for: .milliseconds(50)) }
            } catch {
                print("ticker cancelled")
            }
        }
        let sum = try await executor.run("sum") { (1...10).reduce(0, +) }
        print("executor gave \(sum)")
        let upload = try startShield("upload") {
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                print("upload cancelled on purpose")
                throw error
            }
        }
        let flush = try startShield("flush") {
            try? await Task.sleep(for: .milliseconds(800))
            print("flush done")
        }
        print("shields started")
        upload.cancel()
        do {
            try await upload.value
        } catch is CancellationError {
            print("upload value: CancellationError")
        }
        _ = flush
        try requestShutdown(reason: "free functions shown")
    }

default:
    print("unknown scenario \(scenario)")
    exit(2)
}
