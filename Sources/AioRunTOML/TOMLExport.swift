import TOMLKit

#if canImport(Glibc)
import Glibc
#endif

// libAioRunTOML.so: the host's TOML reader, loaded with dlopen only when `--config` is given,
// and then only in a child process of the host (AioRunHost's TOMLChild): toml++, inside TOMLKit,
// aborts on some malformed files (an `assert`, active in release builds too), and such an abort
// must end the child, not the host (README, Failure modes).
//
// TOMLKit imports Foundation (for dates), and Foundation with its ICU data costs about 7 ms of
// start-up in the dynamic loader alone. Behind this library that cost is paid only by the
// child, so the host itself never maps Foundation.
//
// The library hands the parsed document back as bytes in a small self-describing encoding, so
// that no Swift type crosses the dlopen boundary (the host and this library are built as
// separate images, so a Swift type on both sides is not one type):
//
//     table   t<count>:  then <count> pairs of (string key, value)
//     array   a<count>:  then <count> values
//     string  s<bytes>:<UTF-8 bytes>
//     integer i<decimal>;
//     float   f<decimal, inf, -inf or nan>;
//     boolean b1;  or  b0;
//     other   o<bytes>:<type name>   (dates and times: the host accepts none; `too-deep` for
//                                     a value nested deeper than `maximumDepth`)
//
// Decoded by `ConfigValue` in AioRunHost.

/// Parses the TOML `text` (`length` bytes of UTF-8) and stores a `malloc`ed buffer in `result`
/// and its size in `resultLength`; the caller frees it. Returns 0 with the encoded document, or
/// 1 with `<line>\t<message>` for a syntax error (line 0 when unknown).
@c(aiorun_toml_parse)
public func aiorunTOMLParse(
    _ text: UnsafePointer<UInt8>,
    _ length: Int,
    _ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
    _ resultLength: UnsafeMutablePointer<Int>
) -> Int32 {
    let source = String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self)
    var output: [UInt8] = []
    let status: Int32
    do {
        let table = try TOMLTable(string: source)
        encode(table, depth: 0, into: &output)
        status = 0
    } catch let error as TOMLParseError {
        output = Array("\(error.source.begin.line)\t\(error.description)".utf8)
        status = 1
    } catch {
        output = Array("0\t\(error)".utf8)
        status = 1
    }
    guard let buffer = malloc(max(output.count, 1)) else { return 2 }
    output.withUnsafeBytes { bytes in
        if let base = bytes.baseAddress { buffer.copyMemory(from: base, byteCount: bytes.count) }
    }
    result.pointee = buffer
    resultLength.pointee = output.count
    return status
}

/// Values nested deeper than this are encoded as `o8:too-deep` instead of being recursed into,
/// so a file like `a.a.a.…a = 1` with thousands of levels cannot overflow the stack here. The
/// host refuses documents nested deeper than 64 levels (`ConfigValue.maximumDepth`) anyway.
private let maximumDepth = 65

private func encode(_ table: TOMLTable, depth: Int, into output: inout [UInt8]) {
    let keys = table.keys
    output += Array("t\(keys.count):".utf8)
    for key in keys {
        encode(string: key, into: &output)
        encode(table[key], depth: depth + 1, into: &output)
    }
}

private func encode(_ value: (any TOMLValueConvertible)?, depth: Int, into output: inout [UInt8]) {
    if depth > maximumDepth {
        output += Array("o8:too-deep".utf8)
        return
    }
    guard let value else {
        output += Array("o4:none".utf8)
        return
    }
    switch value.type {
    case .table:
        if let table = value.table {
            encode(table, depth: depth, into: &output)
        } else {
            output += Array("o5:table".utf8)
        }
    case .array:
        guard let array = value.array else {
            output += Array("o5:array".utf8)
            return
        }
        output += Array("a\(array.count):".utf8)
        for element in array { encode(element, depth: depth + 1, into: &output) }
    case .string:
        encode(string: value.string ?? "", into: &output)
    case .int:
        output += Array("i\(value.int ?? 0);".utf8)
    case .double:
        output += Array("f\(value.double ?? .nan);".utf8)
    case .bool:
        output += Array((value.bool == true ? "b1;" : "b0;").utf8)
    case .date, .time, .dateTime:
        let name = Array("\(value.type)".utf8)
        output += Array("o\(name.count):".utf8) + name
    }
}

private func encode(string: String, into output: inout [UInt8]) {
    let bytes = Array(string.utf8)
    output += Array("s\(bytes.count):".utf8) + bytes
}
