/// After the TOML reader crashed on a config file (in its child process), finds the line that
/// makes it crash, so that the usage error names the file and the line (README, Failure modes).
///
/// The reader reads the file front to back, so it crashes on a prefix of the file exactly when
/// the prefix reaches the place where it crashed on the whole file. A bisection over prefixes
/// cut at line ends finds the first line whose end is enough for a crash; each probe is one
/// more child process (about as long as one `--config` start), about log2(lines) of them.
enum TOMLCrashLocator {
    /// At most this many probes; beyond it the message gives the best line known so far, as
    /// "this line or one before it".
    static let probeLimit = 24
    /// At most this much time for all the probes, with the same outcome beyond it.
    static let timeBudget: Duration = .seconds(10)
    /// Probes spent on suspect lines before plain bisection.
    static let suspectProbes = 6

    /// The usage error for a reader that ended with `status` (a signal, or no result in time) on
    /// `bytes`. `probe` runs the reader on a prefix and returns how it ended (nil if it could not
    /// be run).
    static func error(
        for status: SelfChild.Status,
        bytes: [UInt8],
        path: String,
        probe: ([UInt8]) -> SelfChild.Status?
    ) -> HostUsageError {
        guard case .signaled(let signal) = status else {
            return HostUsageError(
                "--config \(path): the TOML reader gave no result within \(TOMLLibrary.timeLimit) and was stopped; the file is too large or too complex"
            )
        }
        let what = "the TOML reader crashed (\(SelfChild.signalName(signal)))"
        guard let found = locate(bytes, probe: probe) else {
            return HostUsageError("--config \(path):?: \(what) and the line could not be found")
        }
        let text = found.line <= 0 ? "" : lines(of: bytes).dropFirst(found.line - 1).first ?? ""
        let hint = headerHint(text) ?? nestingHint(text)
        if found.exact {
            return HostUsageError(
                "--config \(path):\(found.line): \(what) reading this line\(hint.map { ": \($0)" } ?? "; check its syntax")"
            )
        }
        return HostUsageError(
            "--config \(path):\(found.line): \(what) reading this line or one before it; check their syntax"
        )
    }

    /// The first line (1-based) whose end is enough to crash the reader, and whether the search
    /// finished (`exact`) or stopped at its limits with this line as an upper bound. Lines that
    /// look like the known crash (``headerHint(_:)``) are tried first: usually two probes then
    /// settle it, however long the file.
    static func locate(_ bytes: [UInt8], probe: ([UInt8]) -> SelfChild.Status?) -> (line: Int, exact: Bool)? {
        // ends[n - 1] is the length of the prefix holding lines 1...n.
        var ends = bytes.indices.filter { bytes[$0] == UInt8(ascii: "\n") }.map { $0 + 1 }
        if ends.last != bytes.count { ends.append(bytes.count) }
        guard !ends.isEmpty else { return nil }
        var suspects = lines(of: bytes).enumerated().filter { headerHint($0.element) != nil }.map { $0.offset + 1 }[...]
        // Invariant: the prefix of `low` lines does not crash (0 lines: nothing to read), the
        // prefix of `high` lines does (the whole file did).
        var low = 0
        var high = ends.count
        let deadline = ContinuousClock.now + timeBudget
        var probes = 0
        while high - low > 1 {
            guard probes < probeLimit, ContinuousClock.now < deadline else { return (high, false) }
            probes += 1
            while let first = suspects.first, first <= low { suspects.removeFirst() }
            // A few suspects at most, then plain bisection: lines such as `  [` inside a
            // multi-line array look like suspects but are fine.
            if probes > suspectProbes { suspects = [] }
            let middle: Int
            if let suspect = suspects.first, suspect < high {
                middle = suspect
            } else if let suspect = suspects.first, suspect == high {
                middle = high - 1
                suspects.removeFirst()
            } else {
                middle = (low + high) / 2
            }
            switch probe(Array(bytes[0..<ends[middle - 1]])) {
            case .signaled?: high = middle
            case .exited?: low = middle
            case .timedOut?, nil: return (high, false)
            }
        }
        return (high, true)
    }

    /// The lines of `bytes`, as text.
    private static func lines(of bytes: [UInt8]) -> [String] {
        bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    /// A hint for a line that nests thousands of levels deep (`a.a.a.…` or `[[[…`): the reader
    /// recurses once per level and runs out of stack.
    static func nestingHint(_ text: String) -> String? {
        let levels = text.utf8.lazy.filter {
            $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "{")
        }.count
        return levels > 1000
            ? "it nests keys, tables or arrays up to \(levels) levels deep (at most \(ConfigValue.maximumDepth) are used)"
            : nil
    }

    /// What is wrong with `text` if it is a table header with no name after `[` or `[[` (the
    /// crash that toml++ 3.4 has on these): a hint for the message, else nil.
    static func headerHint(_ text: String) -> String? {
        var rest = Substring(text).drop { $0 == " " || $0 == "\t" }
        guard rest.first == "[" else { return nil }
        rest = rest.dropFirst()
        if rest.first == "[" { rest = rest.dropFirst() }
        rest = rest.drop { $0 == " " || $0 == "\t" }
        if let first = rest.unicodeScalars.first {
            let isKeyStart =
                (first.isASCII && (first.properties.isAlphabetic || ("0"..."9").contains(first)))
                || first == "_" || first == "-" || first == "\"" || first == "'"
            if isKeyStart { return nil }
        }
        return "a table header must start with a name, bare (A-Z a-z 0-9 _ -) or quoted, as in [name] or [[name]]"
    }
}
