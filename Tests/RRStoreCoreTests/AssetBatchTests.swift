import RRStoreCore
import Testing

/// The batch upload body: what a client encodes parses back to the same items, and a
/// malformed body is one clear error, whatever is wrong with it.
@Suite struct AssetBatchTests {
    static let assets: [(digest: SHA256Digest, bytes: [UInt8], mediaType: String?)] = [
        Array(#"{"tagName":"div"}"#.utf8), [0x89, 0x50, 0x4E, 0x47, 0x0A, 0x00, 0x0A], [], Array("a\nb c\n".utf8),
    ].enumerated().map { index, bytes in (SHA256Digest.hash(bytes), bytes, index == 1 ? "image/png" : nil) }

    @Test func whatIsEncodedParsesBack() throws {
        let body = AssetBatch.encode(Self.assets)
        let items = try body.withUnsafeBytes { try AssetBatch.parse($0, maxItems: 10, maxItemBytes: 100) }
        #expect(items.map(\.digest) == Self.assets.map(\.digest))
        #expect(items.map { Array(body[$0.range]) } == Self.assets.map(\.bytes), "binary bytes (newlines, NUL) come back as they were")
        #expect(items.map(\.mediaType) == [nil, "image/png", nil, nil])
        // A media type that could break the framing is sent as none.
        let odd = AssetBatch.encode([(Self.assets[0].digest, Self.assets[0].bytes, "text/html; charset=utf-8")])
        #expect(try odd.withUnsafeBytes { try AssetBatch.parse($0, maxItems: 1, maxItemBytes: 100) }.first?.mediaType == nil)
        #expect(try [UInt8]().withUnsafeBytes { try AssetBatch.parse($0, maxItems: 1, maxItemBytes: 1) }.isEmpty)
    }

    @Test func malformedBodiesAreOneClearError() throws {
        let good = AssetBatch.encode(Self.assets)
        let digest = Self.assets[0].digest
        let cases: [(String, [UInt8], RRStoreError.Code)] = [
            ("cut inside an asset", Array(good.dropLast(3)), .invalidBatch),
            ("no newline after the bytes", Array("\(digest) 1 -\nab".utf8), .invalidBatch),
            ("a size past the end", Array("\(digest) 999999999999 -\nab\n".utf8), .tooLarge),
            ("a size past the end, allowed", Array("\(digest) 99 -\nab\n".utf8), .invalidBatch),
            ("13 digits", Array("\(digest) 1234567890123 -\nab\n".utf8), .invalidBatch),
            ("a negative size", Array("\(digest) -1 -\n\n".utf8), .invalidBatch),
            ("two fields", Array("\(digest) 1\na\n".utf8), .invalidBatch),
            ("not a digest", Array("sha256:xyz 1 -\na\n".utf8), .invalidBatch),
            ("a header with no end", Array(repeating: UInt8(ascii: "a"), count: 400), .invalidBatch),
            ("a control character in the type", Array("\(digest) 1 a\u{7}b\na\n".utf8), .invalidBatch),
            ("too many assets", good + good + good, .tooLarge),
        ]
        for (what, body, code) in cases {
            let error = #expect(throws: RRStoreError.self, "\(what)") {
                try body.withUnsafeBytes { try AssetBatch.parse($0, maxItems: 8, maxItemBytes: what == "a size past the end, allowed" ? 1000 : 100) }
            }
            #expect(error?.code == code, "\(what): \(String(describing: error))")
        }
    }
}
