#if canImport(Glibc)
import Glibc
#endif

/// The "check file" step of loading (README, Failure modes): the file is a regular, readable, 64-bit little-endian ELF shared object for
/// this machine. Checked from the header so that the message is exact where dlopen's is not (an
/// aarch64 library makes dlopen say "No such file"); then ``ELFStructure`` checks what the
/// dynamic loader would otherwise crash on (README, "Failure modes").
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

    /// Throws a `checkFile` error naming what is wrong with the file at `path`. Unless
    /// `allowInsecure`, also applies ``FileSecurity`` to the file and its folder.
    ///
    /// The file is opened once, and its type, owner and mode are read from that descriptor
    /// (`fstat`), so the checks apply to the very file whose header is read, and a start with
    /// many plugins makes 5 system calls per file instead of 8.
    static func verify(_ path: String, allowInsecure: Bool) throws(PluginLoadError) {
        func fail(_ reason: String) -> PluginLoadError { PluginLoadError(path: path, step: .checkFile, reason: reason) }
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw fail(errno == EACCES ? "cannot be read: \(reason)" : reason)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw fail(String(cString: strerror(errno))) }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR { throw fail("is a directory, not a shared library") }
        guard type == S_IFREG else { throw fail("is not a regular file") }
        guard info.st_size > 0 else { throw fail("is an empty file, not a shared library") }
        if !allowInsecure { try FileSecurity.verify(file: info, path: path) }
        try verifyHeader(fd, fail: fail)
        do {
            try ELFStructure.verify(ELFFileReader(fd: fd, size: Int(info.st_size)))
        } catch {
            throw fail(error.reason)
        }
    }

    private static func verifyHeader(_ fd: Int32, fail: (String) -> PluginLoadError) throws(PluginLoadError) {
        // The 20 bytes that matter: magic, class, byte order, type and machine.
        var header: (UInt64, UInt64, UInt32) = (0, 0, 0)
        let count = withUnsafeMutableBytes(of: &header) { pread(fd, $0.baseAddress, $0.count, 0) }
        let byte = { (index: Int) in withUnsafeBytes(of: header) { $0[index] } }
        guard count >= 4, byte(0) == 0x7f, byte(1) == 0x45, byte(2) == 0x4c, byte(3) == 0x46 else {
            throw fail("is not an ELF file (no ELF magic; a text or data file?)")
        }
        guard count >= 20 else { throw fail("has a truncated ELF header") }
        guard byte(4) == 2 else {
            throw fail("is a \(byte(4) == 1 ? "32-bit" : "unknown-class") ELF, this host is 64-bit")
        }
        guard byte(5) == 1 else { throw fail("is a big-endian ELF, this host is little-endian") }
        let machine = UInt16(byte(18)) | UInt16(byte(19)) << 8
        guard machine == hostMachine else {
            throw fail("built for \(machineName(machine)), this host is \(machineName(hostMachine))")
        }
        let type16 = UInt16(byte(16)) | UInt16(byte(17)) << 8
        guard type16 == 3 else {
            throw fail("is an ELF \(type16 == 2 ? "executable" : "object of type \(type16)"), not a shared library")
        }
    }
}
