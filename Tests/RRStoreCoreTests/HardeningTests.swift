import Testing
@testable import RRStoreCore

/// The parsers of request-derived values never trap and say nil (→ 4xx) to nonsense.
@Suite struct HeaderValuesTests {
    @Test func rangesResolveOrAreRefusedWithoutOverflow() {
        #expect(ByteRange(header: "bytes=0-9", size: 100)?.range == 0..<10)
        #expect(ByteRange(header: "bytes=90-", size: 100)?.range == 90..<100)
        #expect(ByteRange(header: "bytes=-10", size: 100)?.range == 90..<100)
        #expect(ByteRange(header: "bytes=-1000", size: 100)?.range == 0..<100)
        #expect(ByteRange(header: "BYTES=5-5", size: 100)?.range == 5..<6)
        // The crash: end + 1 overflowed.
        #expect(ByteRange(header: "bytes=0-9223372036854775807", size: 17)?.range == 0..<17)
        #expect(ByteRange(header: "bytes=0-99999999999999999999999999", size: 17)?.range == 0..<17)
        #expect(ByteRange(header: "bytes=-9223372036854775808", size: 17)?.range == 0..<17)
        #expect(ByteRange(header: "bytes=-99999999999999999999999", size: 17)?.range == 0..<17)
        for bad in ["bytes=9223372036854775807-", "bytes=17-", "bytes=5-4", "bytes=-0", "bytes=-", "bytes=a-b", "bytes=1-2,3-4",
                    "bytes=+1-2", "bytes=1--2", "items=0-1", "", "bytes=", "bytes=99999999999999999999-"] {
            #expect(ByteRange(header: bad, size: 17) == nil, "\(bad)")
        }
        #expect(ByteRange(header: "bytes=0-0", size: 0) == nil)
        #expect(ByteRange(header: "bytes=-5", size: 0) == nil)
    }

    @Test func mediaTypesAndEncodings() {
        #expect(HeaderValues.mediaTypeEssence("Application/JSON; charset=utf-8") == "application/json")
        #expect(HeaderValues.mediaTypeEssence("") == "")
        #expect(HeaderValues.mediaTypeEssence(";") == "")
        #expect(HeaderValues.mediaTypeEssence(" ; x") == "")
        #expect(HeaderValues.acceptsGzip("br, gzip;q=0.5"))
        #expect(!HeaderValues.acceptsGzip("gzip;q=0"))
        #expect(!HeaderValues.acceptsGzip("gzip; q=0.000"))
        #expect(!HeaderValues.acceptsGzip("identity"))
        #expect(HeaderValues.acceptsGzip(";;,gzip"))
        #expect(HeaderValues.decimal("123") == 123)
        #expect(HeaderValues.decimal("1234567890123456789") == nil, "19 digits might not fit with room to add")
        #expect(HeaderValues.decimal("-1") == nil && HeaderValues.decimal("") == nil && HeaderValues.decimal("1 ") == nil)
    }

    @Test func servedTypesCannotRunScriptOnTheOrigin() {
        #expect(HeaderValues.servedMediaType("image/png") == ("image/png", false))
        #expect(HeaderValues.servedMediaType("font/woff2") == ("font/woff2", false))
        #expect(HeaderValues.servedMediaType("text/css") == ("text/css", false))
        #expect(HeaderValues.servedMediaType("image/svg+xml") == ("image/svg+xml", true))
        for risky in ["text/html", "TEXT/HTML; charset=x", "application/xhtml+xml", "text/xml", "application/xml", "text/javascript",
                      "application/javascript", "image/svg+xml\r\nX: y", "text/html\u{0}", "", "nonsense", "a/b/c", "/x", "text/"] {
            let served = HeaderValues.servedMediaType(risky)
            #expect(served.contentType == "application/octet-stream" || served.contentType == "image/svg+xml", "\(risky)")
            #expect(!served.contentType.contains("html") && !served.contentType.contains("script"))
        }
        #expect(HeaderValues.servedMediaType(nil) == ("application/octet-stream", false))
    }
}

@Suite struct ExpansionTests {
    /// Finding: T(k+1) = ["rrtree:Tk","rrtree:Tk"] describes 2^k × |T0| bytes in k small assets.
    @Test func theRehydratorRefusesAnExplodingChainWithinItsBudget() throws {
        var assets: [SHA256Digest: [UInt8]] = [:]
        let leaf = Array(("[\"" + String(repeating: "x", count: 1024) + "\"]").utf8)
        var top = SHA256Digest.hash(leaf)
        assets[top] = leaf
        for _ in 0..<40 {
            let tree = Array("[\"rrtree:\(top)\",\"rrtree:\(top)\"]".utf8)
            top = SHA256Digest.hash(tree)
            assets[top] = tree
        }
        let event = Array("{\"type\":2,\"data\":\"rrtree:\(top)\"}".utf8)
        let budget = 8 << 20
        #expect(throws: RRStoreError.self) {
            var out: [UInt8] = [9, 9]
            do {
                try event.withUnsafeBytes { try Rehydrator(maxOutputBytes: budget).rehydrate($0, into: &out, source: InMemoryAssetSource(assets)) }
            } catch let error as RRStoreError {
                #expect(error.code == .tooLarge)
                #expect(out == [9, 9], "nothing appended on failure")
                throw error
            }
        }
        // The same shape, short enough, fits.
        let small = Array("{\"type\":2,\"data\":\"rrtree:\(SHA256Digest.hash(leaf))\"}".utf8)
        let out = try Rehydrator(maxOutputBytes: budget).rehydrate(small, source: InMemoryAssetSource(assets))
        #expect(out.count > 1024)
    }

    /// One nested text naming the same image over and over is stopped as it grows.
    @Test func aNestedTextNamingOneImageManyTimesIsBounded() throws {
        let image = [UInt8](repeating: 7, count: 64 << 10)
        let digest = SHA256Digest.hash(image)
        let css = String(repeating: "a{b:url(data:image/png;base64,rrasset:\(digest))}", count: 200)
        let cssDigest = SHA256Digest.hash(Array(css.utf8))
        let assets = [digest: image, cssDigest: Array(css.utf8)]
        let event = Array("{\"css\":\"rrasset:\(cssDigest);nested\"}".utf8)
        #expect(throws: RRStoreError.self) {
            _ = try Rehydrator(maxOutputBytes: 1 << 20).rehydrate(event, source: InMemoryAssetSource(assets))
        }
        let whole = try Rehydrator(maxOutputBytes: 64 << 20).rehydrate(event, source: InMemoryAssetSource(assets))
        #expect(whole.count > 200 * (64 << 10))
    }

    @Test func expansionsCountRepeatsAndSaturate() {
        let a = SHA256Digest.hash([1]), b = SHA256Digest.hash([2])
        let text = Array("rrtree:\(a) rrtree:\(a) rrasset:\(b);nested".utf8)
        let mentions = text.withUnsafeBytes { bytes -> ReferenceMentions in
            var scanner = ReferenceMentions()
            scanner.feed(bytes)
            return scanner
        }
        #expect(mentions.counts == [a: 2, b: 1])
        #expect(mentions.expansion(ofAssetOfSize: 100, children: [a: 1000, b: 7]) == 100 + 2000 + 7)
        #expect(mentions.expansion(ofAssetOfSize: 100, children: [a: .max / 2 + 1, b: 0]) == .max, "saturates, never traps")
        #expect(mentions.expansion(ofAssetOfSize: .max, children: [a: 1, b: 1]) == .max)
    }
}
