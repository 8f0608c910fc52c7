import Foundation
import XCTest

@testable import AioRunHost

/// The ELF reader and checks (README, "Failure modes") on real files: the plugins this package
/// builds, and damaged copies of one.
final class ELFReaderTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("aiorun-elf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: scratch)
    }

    func testBuiltPluginsPassEveryCheck() throws {
        for name in ["hello", "ticker", "journal"] {
            let path = try BuiltPlugins.path(name)
            XCTAssertNoThrow(try ELFCheck.verify(path, allowInsecure: true), name)
        }
    }

    func testImageListsTheEntryTheAPILibraryAndTheToolchain() throws {
        let image = try XCTUnwrap(ELFImage(path: try BuiltPlugins.path("hello")))
        XCTAssertTrue(image.definedDynamicSymbols.contains { $0.name == ELFStructure.entryName && $0.value != 0 })
        XCTAssertTrue(image.neededLibraries.contains("libAioRunPluginAPI.so"), "\(image.neededLibraries)")
        XCTAssertTrue(image.swiftToolchain?.contains("Swift version") ?? false, image.swiftToolchain ?? "nil")
        XCTAssertEqual(image.entryLikeExports, [ELFStructure.entryName], "only the real entry looks like one")
    }

    func testATruncatedCopyIsRefusedBeforeDlopenCouldSeeIt() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: try BuiltPlugins.path("hello")))
        for keep in [bytes.count / 2, 4096, 64, 19, 3] {
            let path = try write(bytes.prefix(keep), as: "truncated-\(keep).so")
            XCTAssertThrowsError(try ELFCheck.verify(path, allowInsecure: true), "kept \(keep) bytes") { error in
                let failure = error as? PluginLoadError
                XCTAssertEqual(failure?.step, .checkFile)
                XCTAssertFalse(failure?.reason.isEmpty ?? true)
            }
        }
        let short = try write(bytes.prefix(19), as: "short.so")
        XCTAssertEqual(reason { try ELFCheck.verify(short, allowInsecure: true) }, "has a truncated ELF header")
    }

    func testHeaderChecksNameWhatTheFileIs() throws {
        let hello = try Data(contentsOf: URL(fileURLWithPath: try BuiltPlugins.path("hello")))
        let text = try write(Data("not a library\n".utf8), as: "text.so")
        XCTAssertEqual(
            reason { try ELFCheck.verify(text, allowInsecure: true) },
            "is not an ELF file (no ELF magic; a text or data file?)"
        )
        var thirtyTwo = hello
        thirtyTwo[4] = 1
        let path32 = try write(thirtyTwo, as: "32.so")
        XCTAssertEqual(
            reason { try ELFCheck.verify(path32, allowInsecure: true) },
            "is a 32-bit ELF, this host is 64-bit"
        )
        var executable = hello
        executable[16] = 2
        let exe = try write(executable, as: "exe.so")
        XCTAssertEqual(
            reason { try ELFCheck.verify(exe, allowInsecure: true) },
            "is an ELF executable, not a shared library"
        )
        let empty = try write(Data(), as: "empty.so")
        XCTAssertEqual(
            reason { try ELFCheck.verify(empty, allowInsecure: true) },
            "is an empty file, not a shared library"
        )
        XCTAssertEqual(
            reason { try ELFCheck.verify(scratch.path, allowInsecure: true) },
            "is a directory, not a shared library"
        )
    }

    func testStructureCheckReadsTheBuiltPluginAndRefusesACutOne() throws {
        let path = try BuiltPlugins.path("hello")
        XCTAssertNoThrow(try structure(of: path))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let cut = try write(bytes.prefix(bytes.count - 4096), as: "cut.so")
        XCTAssertThrowsError(try structure(of: cut))
    }

    func testImageOfANonELFFileIsNil() throws {
        XCTAssertNil(ELFImage(path: try write(Data(repeating: 0, count: 128), as: "zeros.so")))
        XCTAssertNil(ELFImage(path: scratch.appendingPathComponent("missing.so").path))
    }

    // MARK: helpers

    private func write(_ data: Data, as name: String) throws -> String {
        let url = scratch.appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    private func structure(of path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CocoaError(.fileNoSuchFile) }
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        try ELFStructure.verify(ELFFileReader(fd: fd, size: Int(info.st_size)))
    }

    private func reason(file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) -> String? {
        do {
            try body()
            XCTFail("expected the file to be refused", file: file, line: line)
        } catch let error as PluginLoadError {
            return error.reason
        } catch {
            XCTFail("expected a PluginLoadError, got \(error)", file: file, line: line)
        }
        return nil
    }
}

/// The plugin libraries this package builds, beside the test bundle (`swift build` and
/// `swift test` build every product).
enum BuiltPlugins {
    static let folder: URL? = {
        var folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        while folder.path != "/" {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("libhello.so").path) {
                return folder
            }
            folder = folder.deletingLastPathComponent()
        }
        return nil
    }()

    /// The path of `lib<name>.so`; throws (failing the test) when the build did not produce it.
    static func path(_ name: String) throws -> String {
        let path = try XCTUnwrap(folder, "no libhello.so beside the test bundle: run `swift build` first")
            .appendingPathComponent("lib\(name).so").path
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("lib\(name).so was not built")
            throw CocoaError(.fileNoSuchFile)
        }
        return path
    }
}
