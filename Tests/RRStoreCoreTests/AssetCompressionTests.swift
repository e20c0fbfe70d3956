import RRStoreCore
import Testing

@Suite struct AssetCompressionTests {
    @Test func compressibleBytesAreStoredAsGzipOthersAsTheyAre() throws {
        let json = Array(String(repeating: #"{"tagName":"div","childNodes":[]},"#, count: 200).utf8)
        let (encoding, stored) = try StoredEncoding.encode(json)
        #expect(encoding == .gzip && stored.count < json.count / 5)
        #expect(try GzipDecoder.decompress(stored) == json)

        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(repeating: 0, count: 4096)
        #expect(try StoredEncoding.encode(png).0 == .identity, "compressed formats are not compressed again")
        let small = Array(repeating: UInt8(ascii: "a"), count: StoredEncoding.minimumCompressedSize - 1)
        #expect(try StoredEncoding.encode(small) == (.identity, small))
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<10_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(try StoredEncoding.encode(noise).0 == .identity, "gzip that does not pay is not kept")
    }

    @Test func readersGuessFromWhatTheReferenceSays() {
        #expect(StoredEncoding.likely(kind: .tree, mediaType: nil) == .gzip)
        #expect(StoredEncoding.likely(kind: .text, mediaType: nil) == .gzip)
        #expect(StoredEncoding.likely(kind: .dataURI, mediaType: "image/png") == .identity)
        #expect(StoredEncoding.likely(kind: .dataURI, mediaType: "image/svg+xml") == .gzip)
        #expect(StoredEncoding.likely(kind: .dataURI, mediaType: "font/woff2") == .identity)
        #expect(StoredEncoding.likely(kind: .dataURI, mediaType: "text/css") == .gzip)
    }

    @Test func magicBytesOfCompressedFormats() {
        for magic: [UInt8] in [[0x1F, 0x8B], [0xFF, 0xD8, 0xFF], Array("GIF89a".utf8), Array("wOF2".utf8), Array("RIFF\0\0\0\0WEBP".utf8),
                               [0, 0, 0, 0x20] + Array("ftypavif".utf8)] {
            #expect((magic + [1, 2, 3]).withUnsafeBytes(StoredEncoding.looksCompressed), "\(magic)")
        }
        #expect(!Array("<svg xmlns=".utf8).withUnsafeBytes(StoredEncoding.looksCompressed))
    }
}
