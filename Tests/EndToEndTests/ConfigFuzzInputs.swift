import Foundation

/// A small seeded generator (SplitMix64), so that every fuzz run sees the same inputs.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Config-file inputs for the fuzz loop: the known crashers of the TOML reader, random bytes,
/// and mutations of real config files (README, "Command line": config file keys).
enum ConfigFuzzInputs {
    /// Inputs that once crashed the host (exit 134 inside the TOML library) or probe its limits:
    /// empty keys in table headers, invalid UTF-8, NULs, deep nesting, huge numbers.
    static let knownCrashers: [(name: String, bytes: [UInt8])] = {
        var cases: [(String, [UInt8])] = [
            ("open bracket, newline", Array("[\n".utf8)),
            ("open bracket at the end", Array("[".utf8)),
            ("double bracket, newline", Array("[[\n".utf8)),
            ("double bracket at the end", Array("[[".utf8)),
            ("bracket, comment", Array("[ #\n".utf8)),
            ("double bracket, comment", Array("[[ # x\n".utf8)),
            ("bracket, tab, newline", Array("[\t\n".utf8)),
            ("bracket after a key", Array("x = 1\n[\n".utf8)),
            ("bracket equals", Array("[=]\n".utf8)),
            ("bracket dot", Array("[.]\n".utf8)),
            ("dotted header cut", Array("[a.\n".utf8)),
            ("dotted header comment", Array("[a.#\n".utf8)),
            ("array header cut after dot", Array("[[plugin.\n".utf8)),
            ("header with 0xFF", [0x5B, 0xFF, 0x5D, 0x0A]),
            ("header with 0xC3 alone", [0x5B, 0x61, 0xC3, 0x5D, 0x0A]),
            ("array header with 0xFE", Array("[[".utf8) + [0xFE] + Array("]]\n".utf8)),
            ("value with 0xFF", Array("x = \"".utf8) + [0xFF] + Array("\"\n".utf8)),
            ("key with 0x80", [0x80] + Array(" = 1\n".utf8)),
            ("NUL alone", [0]),
            ("NUL after a key", Array("log-level = \"info\"\n".utf8) + [0] + Array("verbose = true\n".utf8)),
            ("NUL in a header", Array("[".utf8) + [0] + Array("]\n".utf8)),
            ("NUL in a string", Array("x = \"a".utf8) + [0] + Array("b\"\n".utf8)),
            ("huge integer", Array("executor-workers = 99999999999999999999999999\n".utf8)),
            ("largest integer", Array("executor-workers = 9223372036854775807\n".utf8)),
            ("smallest integer", Array("executor-workers = -9223372036854775808\n".utf8)),
            ("huge float", Array("task-shutdown-timeout = 1e99999\n".utf8)),
            ("float too big for a Duration", Array("task-shutdown-timeout = 1e308\n".utf8)),
            ("inf", Array("task-shutdown-timeout = inf\n".utf8)),
            ("nan", Array("task-shutdown-timeout = nan\n".utf8)),
            ("date", Array("task-shutdown-timeout = 1979-05-27T07:32:00Z\n".utf8)),
            ("deep arrays", Array(("x = " + String(repeating: "[", count: 100_000)).utf8)),
            (
                "deep closed arrays",
                Array(("x = " + String(repeating: "[", count: 2000) + String(repeating: "]", count: 2000) + "\n").utf8)
            ),
            (
                "deep inline tables",
                Array(
                    ("x = " + String(repeating: "{a=", count: 20_000) + "1" + String(repeating: "}", count: 20_000)
                        + "\n").utf8
                )
            ),
            ("deep dotted key", Array((Array(repeating: "a", count: 20_000).joined(separator: ".") + " = 1\n").utf8)),
            (
                "deep dotted header",
                Array(("[" + Array(repeating: "a", count: 20_000).joined(separator: ".") + "]\n").utf8)
            ),
            (
                "very deep dotted key",
                Array(("y = 1\n" + Array(repeating: "a", count: 500_000).joined(separator: ".") + " = 1\n").utf8)
            ),
            (
                "very deep dotted header",
                Array(("[" + Array(repeating: "a", count: 500_000).joined(separator: ".") + "]\n").utf8)
            ),
            ("long string", Array(("x = \"" + String(repeating: "a", count: 1 << 20) + "\"\n").utf8)),
            ("many headers", Array(String(repeating: "[[plugin]]\n", count: 3).utf8)),
            ("empty", []),
            ("only a BOM", [0xEF, 0xBB, 0xBF]),
            ("CR line ends", Array("log-level = \"info\"\r\n[\r\n".utf8)),
        ]
        cases.append(("lone CR", Array("x = 1\r[\r".utf8)))
        return cases
    }()

    /// Small valid config files: the bases for mutations besides examples/aiorun.toml.
    static func validBases(helloPath: String) -> [String] {
        [
            "[[plugin]]\nload = \"\(helloPath)\"\n",
            """
            log-level = "debug"
            log-format = "json"
            task-shutdown-timeout = 1.5
            executor-workers = 4
            stop-on-unhandled-errors = true

            [[plugin]]
            load = "hello"
            alias = "first"
            task-shutdown-timeout = 2
            [plugin.config]
            greeting = "hi"
            count = 3
            ratio = 0.5
            loud = false

            """,
            "# a comment\nallow-insecure-plugins = false\n\n[[plugin]] # trailing\nload = 'hello'\nalias = \"b\"\nconfig = { greeting = \"inline\" }\n",
            "log-level = \"warning\"\n[[plugin]]\nload = \"hello\"\n[[plugin]]\nload = \"hello\"\nalias = \"second\"\n",
        ]
    }

    /// Tokens that insertions draw from, so that mutations reach the parser's structure.
    static let tokens: [[UInt8]] =
        [
            "[", "]", "[[", "]]", "{", "}", "=", "\"", "'", "\"\"\"", ".", ",", "#", "\n", " ", "\t", "\\", "\\u",
            "plugin", "load", "config", "0x", "1e", "-", "+", "inf", "true", "1979-05-27",
            // Line starts and characters that reach the table-header code, where the reader aborted.
            "\n[", "\n[[", "\n[ ", "\r", "é", "\u{7F}",
        ].map { Array($0.utf8) } + [[0], [0xFF], [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98, 0x80]]

    /// `count` inputs from `seed`: random bytes, random TOML-ish tokens, lines that open table
    /// headers, and mutations of `bases`.
    static func generate(count: Int, seed: UInt64, bases: [[UInt8]]) -> [(name: String, bytes: [UInt8])] {
        var random = SeededGenerator(seed: seed)
        var inputs: [(String, [UInt8])] = []
        for index in 0..<count {
            switch index % 6 {
            case 0:
                let length = Int.random(in: 0...256, using: &random)
                inputs.append(
                    ("random bytes #\(index)", (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) })
                )
            case 1:
                var bytes: [UInt8] = []
                for _ in 0..<Int.random(in: 1...40, using: &random) {
                    bytes += tokens.randomElement(using: &random) ?? []
                }
                inputs.append(("random tokens #\(index)", bytes))
            case 2:
                // Lines that open table headers, followed by anything: the reader's weak spot.
                var bytes: [UInt8] = []
                for _ in 0..<Int.random(in: 1...6, using: &random) {
                    bytes += Bool.random(using: &random) ? Array("[".utf8) : Array("[[".utf8)
                    for _ in 0..<Int.random(in: 0...4, using: &random) {
                        bytes += tokens.randomElement(using: &random) ?? []
                    }
                    bytes += Array("\n".utf8)
                }
                inputs.append(("header lines #\(index)", bytes))
            default:
                let base = bases[index % bases.count]
                inputs.append(("mutation #\(index) of base \(index % bases.count)", mutate(base, using: &random)))
            }
        }
        return inputs
    }

    /// One to four byte flips, insertions, deletions, truncations or line duplications.
    static func mutate(_ base: [UInt8], using random: inout SeededGenerator) -> [UInt8] {
        var bytes = base
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0 where !bytes.isEmpty:
                bytes[position] ^= UInt8(1) << UInt8.random(in: 0...7, using: &random)
            case 1 where !bytes.isEmpty:
                bytes[position] = UInt8.random(in: 0...255, using: &random)
            case 2:
                bytes.insert(contentsOf: tokens.randomElement(using: &random) ?? [], at: position)
            case 3 where !bytes.isEmpty:
                let end = min(bytes.count, position + Int.random(in: 1...8, using: &random))
                bytes.removeSubrange(position..<end)
            case 4:
                bytes = Array(bytes[0..<position])
            default:
                let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
                guard let line = lines.randomElement(using: &random) else { continue }
                bytes.insert(contentsOf: Array(line) + [0x0A], at: bytes.firstIndex(of: 0x0A).map { $0 + 1 } ?? 0)
            }
        }
        return bytes
    }

    /// The input as printable text for failure messages (escaped, at most 300 characters).
    static func describe(_ bytes: [UInt8]) -> String {
        let shown = bytes.prefix(300).map { byte -> String in
            switch byte {
            case 0x0A: return "\\n"
            case 0x20...0x7E where byte != 0x5C: return String(UnicodeScalar(byte))
            default: return String(format: "\\x%02X", byte)
            }
        }.joined()
        return bytes.count > 300 ? shown + "… (\(bytes.count) bytes)" : shown
    }
}
