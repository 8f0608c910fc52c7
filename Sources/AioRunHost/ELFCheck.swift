#if canImport(Glibc)
import Glibc
#endif

/// DESIGN §3 step 2: the file is a regular, readable, 64-bit little-endian ELF shared object for
/// this machine. Checked from the header so that the message is exact where dlopen's is not (an
/// aarch64 library makes dlopen say "No such file").
enum ELFCheck {
    #if arch(x86_64)
    static let hostMachine: UInt16 = 62
    #elseif arch(arm64)
    static let hostMachine: UInt16 = 183
    #else
    static let hostMachine: UInt16 = 0
    #endif

    static func machineName(_ machine: UInt16) -> String {
        switch machine {
        case 3: return "i386"
        case 8: return "mips"
        case 20: return "ppc"
        case 21: return "ppc64"
        case 22: return "s390x"
        case 40: return "arm"
        case 62: return "x86_64"
        case 183: return "aarch64"
        case 243: return "riscv"
        case 258: return "loongarch"
        default: return "machine \(machine)"
        }
    }

    /// Throws a `checkFile` error naming what is wrong with the file at `path`.
    static func verify(_ path: String) throws(PluginLoadError) {
        func fail(_ reason: String) -> PluginLoadError { PluginLoadError(path: path, step: .checkFile, reason: reason) }
        var info = stat()
        guard stat(path, &info) == 0 else { throw fail(String(cString: strerror(errno))) }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR { throw fail("is a directory, not a shared library") }
        guard type == S_IFREG else { throw fail("is not a regular file") }
        guard info.st_size > 0 else { throw fail("is an empty file, not a shared library") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fail("cannot be read: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 64)
        let count = header.withUnsafeMutableBytes { read(fd, $0.baseAddress, 64) }
        guard count >= 4, header[0] == 0x7f, header[1] == 0x45, header[2] == 0x4c, header[3] == 0x46 else {
            throw fail("is not an ELF file (no ELF magic; a text or data file?)")
        }
        guard count >= 20 else { throw fail("has a truncated ELF header") }
        guard header[4] == 2 else {
            throw fail("is a \(header[4] == 1 ? "32-bit" : "unknown-class") ELF, this host is 64-bit")
        }
        guard header[5] == 1 else { throw fail("is a big-endian ELF, this host is little-endian") }
        let machine = UInt16(header[18]) | UInt16(header[19]) << 8
        guard machine == hostMachine else {
            throw fail("built for \(machineName(machine)), this host is \(machineName(hostMachine))")
        }
        let type16 = UInt16(header[16]) | UInt16(header[17]) << 8
        guard type16 == 3 else { throw fail("is an ELF \(type16 == 2 ? "executable" : "object of type \(type16)"), not a shared library") }
    }
}
