/// The structural checks of a plugin file before `dlopen` (README, "Failure modes"): what a
/// dynamic loader needs to map and link the file without crashing, read with bounded `pread`s,
/// and the entry symbol a function in an executable segment.
enum ELFStructure {
    /// The symbol every plugin exports.
    static let entryName = "aiorun_plugin_entry"

    /// Throws the first defect found in the open plugin file.
    static func verify(_ reader: ELFFileReader) throws(ELFDefect) {
        let segments = try ELFSegments(reader)
        var dynamic = ELFDynamicCheck(reader, segments)
        try dynamic.verify()
        try verifyEntry(dynamic)
    }

    /// `aiorun_plugin_entry`, when this file defines it, must be a function whose address is in
    /// an executable segment: the host calls it. (When the file does not define it, `dlsym`
    /// decides, and the host says how to export it.)
    private static func verifyEntry(_ dynamic: ELFDynamicCheck) throws(ELFDefect) {
        guard let entry = dynamic.lookUp(entryName) else { return }
        let type = entry.info & 0xf
        guard type == 2 else {
            let kind: String
            switch type {
            case 0: kind = "a symbol without a type (STT_NOTYPE)"
            case 1: kind = "a data object (STT_OBJECT)"
            case 6: kind = "a thread-local variable (STT_TLS)"
            case 10: kind = "an indirect function (STT_GNU_IFUNC)"
            default: kind = "a symbol of type \(type)"
            }
            throw ELFDefect(
                reason:
                    "\(entryName) is \(kind), not a function; export a C function with @c(\(entryName)) (see README, plugin author's guide)"
            )
        }
        guard entry.section != 0xfff1, dynamic.isCode(entry.value) else {
            throw ELFDefect(
                reason: "\(entryName) at 0x\(String(entry.value, radix: 16)) is not in an executable segment"
            )
        }
    }
}
