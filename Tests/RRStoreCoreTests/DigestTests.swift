import RRStoreCore
import Testing

@Suite struct DigestTests {
    // FIPS 180-2 / NIST CSRC example vectors for SHA-256.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func nistVectors(message: String, expectedHex: String) {
        #expect(sha(message).hex == expectedHex)
        #expect(sha(message).description == "sha256:" + expectedHex)
    }

    @Test func millionAsStreamedInPiecesMatchesNIST() {
        var hasher = SHA256Hasher()
        let piece = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(piece) }
        #expect(hasher.finalize().hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func streamingEqualsOneShotAtEverySplit() {
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let whole = SHA256Digest.hash(data)
        for split in [0, 1, 63, 64, 65, 299, 300] {
            var hasher = SHA256Hasher()
            hasher.update(data[..<split])
            hasher.update(data[split...])
            #expect(hasher.finalize() == whole)
        }
    }

    @Test func textFormRoundTripsAndParsesStrictly() throws {
        let digest = sha("abc")
        #expect(SHA256Digest(parsing: digest.description) == digest)
        #expect(try SHA256Digest.parse(digest.description) == digest)
        #expect(SHA256Digest(bytes: digest.bytes) == digest)
        let hex = digest.hex
        #expect(SHA256Digest(parsing: "sha256:" + hex.uppercased()) == nil, "uppercase hex is another spelling")
        #expect(SHA256Digest(parsing: hex) == nil, "the algorithm prefix is required")
        #expect(SHA256Digest(parsing: "sha256:" + hex.dropLast()) == nil)
        #expect(SHA256Digest(parsing: "sha256:" + hex + "0") == nil)
        #expect(SHA256Digest(parsing: "sha512:" + hex) == nil)
        #expect(SHA256Digest(parsing: "sha256:" + hex.dropLast() + "g") == nil)
        #expect(SHA256Digest(parsing: " sha256:" + hex) == nil)
        #expect(throws: RRStoreError.self) { try SHA256Digest.parse("sha256:xyz") }
    }
}
