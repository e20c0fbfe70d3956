import RRStoreCore
import Testing

/// Every digest an asset mentions is found, however its bytes arrive in pieces.
@Suite struct ReferenceMentionsTests {
    @Test func mentionsAreFoundAcrossEveryPieceBoundary() {
        let a = SHA256Digest.hash([1]), b = SHA256Digest.hash([2]), c = SHA256Digest.hash([3])
        var text = Array(#"{"childNodes":[{"textContent":"rrasset:\#(a);nested"},"rrtree:\#(b)"],"x":"rr"}"#.utf8)
        text += Array(repeating: UInt8(ascii: "r"), count: 40)   // "rr" everywhere, no mention
        text += Array("url(data:image/png;base64,rrasset:\(c))".utf8)
        text += Array("rrasset:sha256:\(String(repeating: "A", count: 64)) rrtree:sha256:12".utf8)  // not digests
        let expected: Set<SHA256Digest> = [a, b, c]
        #expect(text.withUnsafeBytes(ReferenceMentions.digests) == expected)
        for pieceSize in [1, 2, 7, 16, 17, 78, 79, 80, 100, 1000] {
            var scanner = ReferenceMentions()
            var offset = 0
            while offset < text.count {
                let end = min(offset + pieceSize, text.count)
                text[offset..<end].withUnsafeBytes { scanner.feed($0) }
                offset = end
            }
            #expect(scanner.digests == expected, "pieces of \(pieceSize)")
        }
        // A mention right at the end, and one alone.
        let tail = Array("xx rrtree:\(a)".utf8)
        #expect(tail.withUnsafeBytes(ReferenceMentions.digests) == [a])
        #expect(Array("rrtree:\(a)".utf8).withUnsafeBytes(ReferenceMentions.digests) == [a])
        #expect(Array("rrtree:\(a)".utf8.dropLast()).withUnsafeBytes(ReferenceMentions.digests).isEmpty)
        #expect([UInt8]().withUnsafeBytes(ReferenceMentions.digests).isEmpty)
    }
}
