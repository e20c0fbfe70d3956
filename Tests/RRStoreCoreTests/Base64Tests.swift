import RRStoreCore
import Testing

@Suite struct Base64Tests {
    // RFC 4648 §10 test vectors.
    static let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
                          ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]

    @Test(arguments: vectors)
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(Base64.encode(bytes(plain)) == encoded)
        #expect(Base64.decodeCanonical(encoded) == bytes(plain))
    }

    @Test func everyByteValueAndLengthRoundTrips() {
        for length in 0..<70 {
            let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + length) }
            let encoded = Base64.encode(data)
            #expect(Base64.decodeCanonical(encoded) == data)
        }
        let all = (0...255).map { UInt8($0) }
        #expect(Base64.decodeCanonical(Base64.encode(all)) == all)
    }

    @Test(arguments: [
        "Zh==",      // unused bits not zero: decodes to "f" but re-encodes as "Zg=="
        "Zm9=",      // same, one padding byte
        "Zg",        // padding missing
        "Zg=",       // length not a multiple of 4
        "Zg===",
        "Z===",      // too much padding
        "====",
        "Zm9v\n",    // whitespace
        "Zm 9v",
        "Zm9v-_==",  // URL-safe alphabet is another encoding
        "Zg==Zg==",  // padding in the middle
        "Zm9vY*==",
    ])
    func nonCanonicalTextIsRefused(encoded: String) {
        #expect(Base64.decodeCanonical(encoded) == nil)
    }
}
