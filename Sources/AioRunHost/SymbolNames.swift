#if canImport(Glibc)
import Glibc
#endif

/// Demangles Swift symbol names inside loader messages, so that "undefined symbol: $s4Demo..."
/// reads as the Swift declaration.
enum SymbolNames {
    @_silgen_name("swift_demangle")
    private static func swiftDemangle(
        _ mangledName: UnsafePointer<CChar>?,
        _ mangledNameLength: Int,
        _ outputBuffer: UnsafeMutablePointer<CChar>?,
        _ outputBufferSize: UnsafeMutablePointer<Int>?,
        _ flags: UInt32
    ) -> UnsafeMutablePointer<CChar>?

    /// `name` demangled, or `nil` if it is not a Swift symbol.
    static func demangle(_ name: String) -> String? {
        guard name.hasPrefix("$s") || name.hasPrefix("_$s") || name.hasPrefix("$S") else { return nil }
        return name.withCString { pointer -> String? in
            guard let result = swiftDemangle(pointer, name.utf8.count, nil, nil, 0) else { return nil }
            defer { free(result) }  // swift_demangle returns malloc'd memory
            return String(cString: result)
        }
    }

    /// Appends the demangled form after each Swift symbol in `message`.
    static func demangleInMessage(_ message: String) -> String {
        let words = message.split(separator: " ", omittingEmptySubsequences: false).map { word -> String in
            let trimmed = word.trimmingCharacters(in: ",:;()")
            guard let readable = demangle(trimmed) else { return String(word) }
            return "\(word) (\(readable))"
        }
        return words.joined(separator: " ")
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = self[...]
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
