#if canImport(Glibc)
import Glibc
#endif

/// Reading a config file's bytes, once, and the checks on them that come before any parsing.
enum ConfigFileBytes {
    /// All of `path` (a file, `/dev/stdin`, a pipe), at most `limit` bytes.
    static func read(_ path: String, limit: Int) throws(HostUsageError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw HostUsageError("--config \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                throw HostUsageError("--config \(path): cannot read it: \(String(cString: strerror(errno)))")
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            if bytes.count > limit { throw HostUsageError("--config \(path): larger than \(limit >> 20) MiB") }
        }
    }

    /// TOML files are UTF-8 without NUL bytes. The TOML reader would replace bad UTF-8 and stop
    /// at a NUL without a word (it takes a C string), silently dropping the rest of the file, so
    /// both are refused here with their line and column.
    static func checkEncoding(_ bytes: [UInt8], path: String) throws(HostUsageError) {
        // The standard library's validation is fast; the scan below only finds the place.
        if !bytes.contains(0), String(validating: bytes, as: UTF8.self) != nil { return }
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        var line = 1
        var lineStart = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                if encoded.count == 1 {
                    switch encoded.first {
                    case 0:
                        throw HostUsageError(
                            "--config \(path):\(line): a NUL byte at column \(offset - lineStart + 1); TOML allows none"
                        )
                    case UInt8(ascii: "\n"):
                        line += 1
                        lineStart = offset + 1
                    default:
                        break
                    }
                }
                offset += encoded.count
            case .error:
                let byte = String(bytes[offset], radix: 16, uppercase: true)
                throw HostUsageError(
                    "--config \(path):\(line): not UTF-8 (byte 0x\(byte.count == 1 ? "0" : "")\(byte) at column \(offset - lineStart + 1)); TOML files are UTF-8"
                )
            case .emptyInput:
                return
            }
        }
    }
}
