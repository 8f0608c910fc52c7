#if canImport(Glibc)
import Glibc
#endif

/// Bounded reads of an open file: `pread` of exactly the bytes asked for, never the whole file,
/// and never more than ``maximumRead`` at once (README, "Failure modes": a 1 GB file costs what
/// its headers cost). Every offset and length from the file is checked before it is used in
/// arithmetic, so a crafted header gives `nil`, never a trap.
struct ELFFileReader {
    /// The open file; owned by the caller.
    let fd: Int32
    /// The file's size in bytes.
    let size: Int
    /// The file's first ``prefixSize`` bytes (or all of a smaller file), read at once: the
    /// headers and dynamic tables of a small plugin all lie there, so checking it costs one
    /// system call instead of about 25 (start-up with 100 plugins is benchmarked).
    private let prefix: [UInt8]

    /// The largest single read: 64 MiB (tables of real plugins are far smaller).
    static let maximumRead = 64 << 20
    /// How much is read up front.
    static let prefixSize = 64 << 10

    /// A reader of the open file `fd` of `size` bytes.
    init(fd: Int32, size: Int) {
        self.fd = fd
        self.size = size
        prefix = Self.read(fd, at: 0, count: min(max(size, 0), Self.prefixSize)) ?? []
    }

    /// Whether `[offset, offset + count)` lies inside the file (overflow-safe).
    func contains(offset: Int, count: Int) -> Bool {
        offset >= 0 && count >= 0 && offset <= size && count <= size - offset
    }

    /// The `count` bytes at `offset`, or `nil` if they are not all in the file or too many.
    func bytes(at offset: Int, count: Int) -> [UInt8]? {
        guard contains(offset: offset, count: count), count <= Self.maximumRead else { return nil }
        guard count > 0 else { return [] }
        if count <= prefix.count - offset { return Array(prefix[offset..<offset + count]) }
        return Self.read(fd, at: offset, count: count)
    }

    private static func read(_ fd: Int32, at offset: Int, count: Int) -> [UInt8]? {
        guard count > 0 else { return [] }
        var complete = false
        let buffer = [UInt8](unsafeUninitializedCapacity: count) { raw, initialized in
            var filled = 0
            while filled < count {
                let got = pread(fd, raw.baseAddress! + filled, count - filled, off_t(offset + filled))
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else { break }
                filled += got
            }
            // Bytes past a short read stay out of the array.
            initialized = filled
            complete = filled == count
        }
        return complete ? buffer : nil
    }

    /// Opens `path` read-only; `nil` if it cannot be opened or is not a regular file.
    static func open(_ path: String) -> (reader: ELFFileReader, close: () -> Void)? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            Glibc.close(fd)
            return nil
        }
        return (ELFFileReader(fd: fd, size: Int(info.st_size)), { Glibc.close(fd) })
    }
}

/// Little-endian fields of a byte buffer read from an ELF file; `nil` past its end.
extension Array where Element == UInt8 {
    /// The unsigned 16-bit value at `at`.
    func u16(_ at: Int) -> Int? {
        at >= 0 && at <= count - 2 ? Int(self[at]) | Int(self[at + 1]) << 8 : nil
    }

    /// The unsigned 32-bit value at `at`.
    func u32(_ at: Int) -> Int? {
        guard at >= 0, at <= count - 4 else { return nil }
        return Int(self[at]) | Int(self[at + 1]) << 8 | Int(self[at + 2]) << 16 | Int(self[at + 3]) << 24
    }

    /// The 64-bit value at `at` as an `Int`; values of 2^62 and more (no file offset, size or
    /// address of a real library) give `Int.max >> 1`, so that sums of two stay below overflow and
    /// the range checks that follow refuse them.
    func u64(_ at: Int) -> Int? {
        guard at >= 0, at <= count - 8 else { return nil }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(self[at + index]) << (8 * UInt64(index)) }
        return value >= 1 << 62 ? Int.max >> 1 : Int(value)
    }

    /// The NUL-terminated string at `at`, or `nil` if there is no NUL before the end.
    func cString(_ at: Int) -> String? {
        guard at >= 0, at < count else { return nil }
        var end = at
        while end < count, self[end] != 0 { end += 1 }
        guard end < count else { return nil }
        return String(decoding: self[at..<end], as: UTF8.self)
    }
}
