import AioRun

#if canImport(Glibc)
import Glibc
#endif

/// Runs this very binary (`/proc/self/exe`) as a short-lived child in one of its internal modes,
/// for work whose failure must not end the host: a dynamic loader that crashes on a damaged
/// plugin file, or a parser that aborts on a malformed config file (README, "Failure modes").
///
/// The child's standard input is a memory file holding `input`; its standard output and error go
/// to memory files as well, so no pipe can fill up and stall either side. The child runs in a
/// process group of its own (a Ctrl-C on the terminal is the host's to handle, not the child's),
/// with every signal at its default action and none blocked, and it is killed at `timeout`.
enum SelfChild {
    /// The first argument that selects an internal mode:
    /// `aiorun-host --aiorun-internal-child MODE HOST-PID …`.
    static let modeArgument = "--aiorun-internal-child"

    /// How the child ended.
    enum Status: Equatable, CustomStringConvertible {
        /// It exited with this code.
        case exited(Int32)
        /// A signal ended it.
        case signaled(Int32)
        /// It was still running at the time limit and was killed.
        case timedOut

        /// `exit code 3`, `signal 11 (SIGSEGV)`, `no result within the time limit`.
        var description: String {
            switch self {
            case .exited(let code): return "exit code \(code)"
            case .signaled(let signal): return "signal \(signal) (\(SelfChild.signalName(signal)))"
            case .timedOut: return "no result within the time limit"
            }
        }
    }

    /// What the child left behind.
    struct Outcome {
        /// How it ended.
        let status: Status
        /// Its standard output (at most ``outputLimit`` bytes).
        let output: [UInt8]
        /// Its standard error (at most ``errorLimit`` bytes), for messages.
        let error: [UInt8]

        /// The last non-empty line of standard error, if any: a crashing loader's or runtime's
        /// own words.
        var lastErrorLine: String? {
            String(decoding: error, as: UTF8.self).split(whereSeparator: \.isNewline).last.map(String.init)
        }
    }

    /// Why the child could not be run at all.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let outputLimit = 64 << 20
    static let errorLimit = 64 << 10

    /// Runs `aiorun-host --aiorun-internal-child <mode> <arguments…>` with `input` on its standard
    /// input, and waits at most `timeout` for it.
    static func run(
        mode: String,
        arguments: [String] = [],
        input: [UInt8] = [],
        timeout: Duration
    ) throws(Failure) -> Outcome {
        let stdin = try memoryFile("aiorun-child-in")
        defer { close(stdin) }
        let stdout = try memoryFile("aiorun-child-out")
        defer { close(stdout) }
        let stderr = try memoryFile("aiorun-child-err")
        defer { close(stderr) }
        try writeAll(input, to: stdin)
        lseek(stdin, 0, SEEK_SET)

        let pid = try spawn(mode: mode, arguments: arguments, stdin: stdin, stdout: stdout, stderr: stderr)
        // A forced exit of the host meanwhile kills the child's process group (terminateProcess).
        ChildProcesses.register(pid)
        let status = wait(for: pid, timeout: timeout)
        ChildProcesses.unregister(pid)
        return Outcome(
            status: status,
            output: readAll(stdout, limit: outputLimit),
            error: readAll(stderr, limit: errorLimit)
        )
    }

    /// For the child: bounds its own life, so that it never outlives a host that was killed
    /// while waiting for it by more than `seconds`.
    static func limitOwnLife(seconds: UInt32) {
        alarm(seconds)
    }

    private typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32

    /// For the child: dies with its parent. `PR_SET_PDEATHSIG` makes the kernel send SIGKILL when
    /// the host's thread that started it ends (the host dies, even of SIGKILL); a host already
    /// gone by then is noticed by `getppid()`. glibc's `prctl` is variadic, which Swift cannot
    /// import, so it is called through `dlsym` with all-integer arguments (the x86-64 and AArch64
    /// calling conventions pass them as for a fixed-argument call).
    static func dieWithParent(_ parent: pid_t) {
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl") {
            _ = unsafeBitCast(symbol, to: Prctl.self)(1, UInt(SIGKILL), 0, 0, 0)  // 1: PR_SET_PDEATHSIG
        }
        if getppid() != parent { _exit(137) }
    }

    /// For the child: its standard output and error are memory files that the host reads back
    /// whole, so a plugin's constructor that prints without end (in the pre-flight) must not
    /// fill the host's memory. Writes beyond ``outputLimit`` fail with EFBIG instead.
    static func limitOutput() {
        signal(SIGXFSZ, SIG_IGN)
        var limit = rlimit(rlim_cur: rlim_t(outputLimit), rlim_max: rlim_t(outputLimit))
        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
    }

    // MARK: - Spawning

    private static func spawn(
        mode: String,
        arguments: [String],
        stdin: Int32,
        stdout: Int32,
        stderr: Int32
    ) throws(Failure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        // Nothing else of the host's leaks into the child: descriptors that a plugin opened
        // without close-on-exec (a listening socket, say) are closed there.
        if let closeFrom = closeFrom { _ = closeFrom(&actions, 3) }

        switch spawnSelf(mode: mode, arguments: arguments, actions: &actions) {
        case .success(let pid): return pid
        case .failure(let rc):
            throw Failure(description: "cannot start a child process: \(String(cString: strerror(rc.code)))")
        }
    }

    /// An error number from `posix_spawn`.
    struct SpawnError: Error {
        let code: Int32
    }

    /// Starts `aiorun-host --aiorun-internal-child <mode> <host pid> <arguments…>` from
    /// `/proc/self/exe` with `actions`, leading a process group of its own (a Ctrl-C on the
    /// terminal is the host's to handle, not the child's), with every signal at its default
    /// action and none blocked, and `environment` (nil: the host's own).
    static func spawnSelf(
        mode: String,
        arguments: [String],
        actions: inout posix_spawn_file_actions_t,
        environment: [String]? = nil
    ) -> Result<pid_t, SpawnError> {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes,
            Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)
        )

        // The host's pid follows the mode, so the child can tell whether it is already orphaned.
        let argv = [CommandLine.arguments.first ?? "aiorun-host", modeArgument, mode, String(getpid())] + arguments
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var variables: [UnsafeMutablePointer<CChar>?] = (environment ?? []).map { strdup($0) } + [nil]
        defer { for variable in variables { free(variable) } }
        var pid = pid_t()
        let rc =
            environment == nil
            ? posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, &cArguments, currentEnvironment())
            : posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, &cArguments, &variables)
        return rc == 0 ? .success(pid) : .failure(SpawnError(code: rc))
    }

    /// Waits for `pid`, polling with a growing pause (50 µs up to 2 ms) so that a child that ends
    /// in a millisecond is seen within about that; kills it at the deadline.
    private static func wait(for pid: pid_t, timeout: Duration) -> Status {
        let deadline = ContinuousClock.now + timeout
        var pause = 50_000
        while true {
            var raw: Int32 = 0
            let done = waitpid(pid, &raw, WNOHANG)
            if done == pid { return status(raw) }
            if done < 0 && errno != EINTR { return .exited(-1) }
            if ContinuousClock.now >= deadline {
                // The whole process group: the child leads its own, so whatever a plugin's
                // library constructor forked in the pre-flight goes with it.
                kill(-pid, SIGKILL)
                while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
                return .timedOut
            }
            var sleep = timespec(tv_sec: 0, tv_nsec: pause)
            nanosleep(&sleep, nil)
            pause = min(pause * 2, 2_000_000)
        }
    }

    static func status(_ raw: Int32) -> Status {
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as functions.
        let signal = raw & 0x7f
        return signal == 0 ? .exited((raw >> 8) & 0xff) : .signaled(signal)
    }

    /// `SIGSEGV`, `SIGBUS`, … for the signals a crash or a kill gives; else `signal N`.
    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGHUP: return "SIGHUP"
        case SIGINT: return "SIGINT"
        case SIGQUIT: return "SIGQUIT"
        case SIGILL: return "SIGILL"
        case SIGTRAP: return "SIGTRAP"
        case SIGABRT: return "SIGABRT"
        case SIGBUS: return "SIGBUS"
        case SIGFPE: return "SIGFPE"
        case SIGKILL: return "SIGKILL"
        case SIGSEGV: return "SIGSEGV"
        case SIGPIPE: return "SIGPIPE"
        case SIGALRM: return "SIGALRM"
        case SIGTERM: return "SIGTERM"
        case SIGXCPU: return "SIGXCPU"
        case SIGXFSZ: return "SIGXFSZ"
        case SIGSYS: return "SIGSYS"
        default: return "signal \(signal)"
        }
    }

    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc
    /// module does not declare; found with `dlsym`, and skipped where missing.
    static let closeFrom: CloseFrom? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0),
        "posix_spawn_file_actions_addclosefrom_np"
    ).map { unsafeBitCast($0, to: CloseFrom.self) }

    // MARK: - Memory files

    private typealias MemfdCreate = @convention(c) (UnsafePointer<CChar>, UInt32) -> Int32

    /// glibc's `memfd_create`, which Swift's Glibc module does not declare; found with `dlsym`.
    private static let memfdCreate: MemfdCreate? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "memfd_create")
        .map { unsafeBitCast($0, to: MemfdCreate.self) }

    /// An anonymous file in memory (close-on-exec; the child gets it through `dup2`). Falls back
    /// to an unlinked temporary file where `memfd_create` is missing.
    private static func memoryFile(_ name: String) throws(Failure) -> Int32 {
        if let memfdCreate {
            let fd = memfdCreate(name, 1)  // 1: MFD_CLOEXEC
            if fd >= 0 { return fd }
        }
        var template = Array("/tmp/aiorun-child-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0, fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 else {
            throw Failure(description: "cannot create a file for a child process: \(String(cString: strerror(errno)))")
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return fd
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw Failure(description: "cannot write a child process's input: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    private static func readAll(_ fd: Int32, limit: Int) -> [UInt8] {
        let size = min(Int(lseek(fd, 0, SEEK_END)), limit)
        guard size > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        while filled < size {
            let count = bytes.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + filled, size - filled, off_t(filled))
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            filled += count
        }
        return Array(bytes[0..<filled])
    }

    /// The process's environment, for the child. Swift 6 forbids reading the mutable global
    /// `environ` directly, so it is read through its symbol.
    static func currentEnvironment() -> UnsafePointer<UnsafeMutablePointer<CChar>?>? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "environ") else { return nil }
        return UnsafePointer(
            symbol.assumingMemoryBound(to: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?.self).pointee
        )
    }
}
