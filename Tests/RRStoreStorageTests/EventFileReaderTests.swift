import Foundation
import RRStoreCore
import RRStoreStorage
import Testing
import RRStoreIO

/// Plain files are mapped and read in place; gzip files (and pipes) are read in chunks.
/// Both must yield the same events, and the same errors.
@Suite struct EventFileReaderTests {
    static func events(count: Int) -> [[UInt8]] {
        (0..<count).map { index in
            Array("{\"type\":3,\"data\":{\"source\":1,\"text\":\"\(String(repeating: "é\\n", count: index % 50))\",\"n\":[\(index),-1.5e3,true,null]},\"timestamp\":\(1_700_000_000_000 + index)}".utf8)
        }
    }

    static func write(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-events-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func read(_ path: String, releaseStep: Int = 64 << 20) throws -> (events: [[UInt8]], decoded: Int) {
        var reader = EventFileReader(path: path, chunkSize: 4096)
        reader.mappedReleaseStep = releaseStep
        var events: [[UInt8]] = []
        try reader.readEvents { remainder in
            var visitor = ValidatingVisitor()
            let length = try JSONParser.parsePrefix(remainder, visitor: &visitor)
            events.append(Array(remainder[..<length]))
            return length
        }
        return (events, reader.bytesDecoded)
    }

    @Test(arguments: ["array", "ndjson"])
    func mappedAndGzipFilesYieldTheSameEvents(shape: String) throws {
        let expected = Self.events(count: 3_000)
        let text: [UInt8] = shape == "array"
            ? Array("[\n".utf8) + Array(expected.joined(separator: Array(",\n".utf8))) + Array("\n]\n".utf8)
            : Array(expected.joined(separator: [0x0A])) + [0x0A]
        let plain = try Self.write(text)
        let gzipped = try Self.write(try GzipEncoder.compress(text))
        defer { try? FileManager.default.removeItem(atPath: plain); try? FileManager.default.removeItem(atPath: gzipped) }
        #expect(text.count > 100 * 4096, "spans many pages")
        let mapped = try Self.read(plain)
        #expect(mapped.events == expected)
        #expect(mapped.decoded == text.count)
        // Giving back the pages read so far every page changes nothing.
        #expect(try Self.read(plain, releaseStep: 4096).events == expected)
        let unzipped = try Self.read(gzipped)
        #expect(unzipped.events == expected)
        #expect(unzipped.decoded == text.count)
    }

    @Test func aTruncatedFileIsTheSameErrorMappedOrNot() throws {
        let expected = Self.events(count: 20)
        let text = Array("[".utf8) + Array(expected.joined(separator: Array(",".utf8))) + Array("]".utf8)
        let cut = Array(text.dropLast(30))
        let plain = try Self.write(cut)
        let gzipped = try Self.write(try GzipEncoder.compress(cut))
        defer { try? FileManager.default.removeItem(atPath: plain); try? FileManager.default.removeItem(atPath: gzipped) }
        var messages: [String] = []
        for path in [plain, gzipped] {
            do {
                _ = try Self.read(path)
                Issue.record("a truncated file was read without an error")
            } catch let error as RRStoreError {
                #expect(error.code == .truncatedInput)
                #expect(error.offset == cut.count)
                messages.append(error.message.replacingOccurrences(of: path, with: "FILE"))
            }
        }
        #expect(messages.count == 2 && messages[0] == messages[1], "\(messages)")
        #expect(messages.first?.contains("ends inside event 20") == true, "\(messages)")
    }

    @Test func tinyAndEmptyFiles() throws {
        for (content, count) in [("[]", 0), ("", 0), ("{}", 1), ("[{}]", 1), (" {}\n{}", 2)] {
            let path = try Self.write(Array(content.utf8))
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect(try Self.read(path).events.count == count, "\(content)")
        }
    }
}
