import Foundation
import XCTest

@testable import AioRunHost

/// `--log-format json` (README, "Logging"): each string is valid JSON whatever it holds, and a
/// line is one JSON object.
final class JSONLogFormatTests: XCTestCase {
    func testEscapesQuotesBackslashesAndControlCharacters() {
        XCTAssertEqual(JSON.string("plain"), "\"plain\"")
        XCTAssertEqual(JSON.string("a\"b\\c"), "\"a\\\"b\\\\c\"")
        XCTAssertEqual(JSON.string("\n\r\t"), "\"\\n\\r\\t\"")
        XCTAssertEqual(JSON.string("\u{0}\u{1B}\u{1F}"), "\"\\u0000\\u001b\\u001f\"")
        XCTAssertEqual(JSON.string("é\u{1F600}\u{7F}"), "\"é\u{1F600}\u{7F}\"")
    }

    func testEveryEncodedStringDecodesBackToItself() throws {
        var samples = ["", "\u{2028}\u{2029}", "\u{202E}rtl", String(repeating: "\\\"", count: 10)]
        samples.append(String(String.UnicodeScalarView((0..<0x80).compactMap(Unicode.Scalar.init))))
        for sample in samples {
            let encoded = JSON.string(sample)
            XCTAssertFalse(encoded.contains("\n"), "one line: \(encoded)")
            let decoded = try JSONSerialization.jsonObject(with: Data(encoded.utf8), options: .fragmentsAllowed)
            XCTAssertEqual(decoded as? String, sample)
        }
    }

    func testTheDropNoticeIsOneJSONObjectWithTheHostsFields() throws {
        let line = HostLogHandler.dropNotice(3, format: .json)
        XCTAssertTrue(line.hasSuffix("}\n"))
        let object = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(line.dropLast().utf8)) as? [String: Any]
        )
        XCTAssertEqual(object["level"] as? String, "warning")
        XCTAssertEqual(object["label"] as? String, "aiorun-host")
        XCTAssertTrue(object["plugin"] is NSNull)
        XCTAssertEqual(object["message"] as? String, "3 log lines dropped (stderr was not read fast enough)")
        XCTAssertEqual(object["metadata"] as? [String: String], ["dropped": "3"])
        XCTAssertNotNil(object["timestamp"] as? String)
    }

    func testTheTextDropNoticeSaysLineInTheSingular() {
        XCTAssertTrue(
            HostLogHandler.dropNotice(1, format: .text).hasSuffix(
                " warning [host] 1 log line dropped (stderr was not read fast enough)\n"
            )
        )
    }
}
