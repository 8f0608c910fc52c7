#if canImport(Glibc)
import Glibc
#endif

/// The child side of reading a config file (see ``TOMLLibrary`` for the parent's): run as
/// `aiorun-host --aiorun-internal-child toml` by ``SelfChild``, it loads libAioRunTOML.so, parses
/// the bytes on its standard input and writes the result to its standard output. The TOML
/// library (toml++ inside TOMLKit) aborts on some malformed files; here that abort ends only
/// this child, never the host.
enum TOMLChild {
    /// The internal child mode's name.
    static let mode = "toml"

    /// How the child ends, as its exit code; standard output holds what each says.
    enum Result: Int32 {
        /// The encoded document (see Sources/AioRunTOML/TOMLExport.swift).
        case document = 0
        /// `<line>\t<message>` for a syntax error (line 0 when unknown).
        case syntaxError = 1
        /// The reader could not allocate its result.
        case outOfMemory = 2
        /// The reader could not be loaded: the reason, as one line.
        case noReader = 3
        /// Standard input could not be read, or was larger than a config file may be.
        case badInput = 4
    }

    /// The child ends itself after this many seconds even if the host that waits for it was
    /// killed (the host kills it sooner, at ``TOMLLibrary/timeLimit``).
    static let lifeLimitSeconds: UInt32 = 120

    /// The child's work; returns its exit code.
    static func childMain(_ arguments: [String]) -> Int32 {
        SelfChild.limitOwnLife(seconds: lifeLimitSeconds)
        // A crash in the parser ends the child at once: no backtrace from the Swift runtime's
        // handlers, which would only cost time (the host says what happened, README, Failure
        // modes).
        for crash in [SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP] { signal(crash, SIG_DFL) }
        guard let input = readStandardInput(limit: ConfigFile.sizeLimit) else {
            writeOutput(Array("cannot read the config file's bytes from the host".utf8))
            return Result.badInput.rawValue
        }
        let parse: TOMLLibrary.Parse
        switch TOMLLibrary.loadParser() {
        case .success(let entry): parse = entry
        case .failure(let failure):
            writeOutput(Array(failure.description.utf8))
            return Result.noReader.rawValue
        }
        let bytes = input.isEmpty ? [0] : input
        var result: UnsafeMutableRawPointer?
        var length = 0
        let status = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress.map { parse($0, input.count, &result, &length) } ?? 2
        }
        guard let result, status == 0 || status == 1 else { return Result.outOfMemory.rawValue }
        writeOutput(Array(UnsafeRawBufferPointer(start: result, count: length)))
        free(result)
        return status
    }

    /// All of standard input, or nil if it cannot be read or holds more than `limit` bytes.
    private static func readStandardInput(limit: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            if bytes.count > limit { return nil }
        }
    }

    /// Writes all of `bytes` to standard output.
    private static func writeOutput(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(1, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}
