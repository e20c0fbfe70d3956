import PropertyBased
import RRStoreCore
import Testing
import RRStoreTestSupport

/// Random JSON built from the pieces that break naive rewriters, at small thresholds so
/// that most values are extracted.
struct RandomEvent {
    var rng: SplitMix64
    var out = ""

    static let fragments: [String] = [
        "a", "word ", "é", "😀", "中文", "\\n", "\\\"", "\\\\", "\\/", "\\u0041", "\\u00e9", "\\u001f", "\\u0001",
        "\\ud800", "\\udc00", "\\uD83D\\uDE00", "\\ud83d\\ude00", "\\b", "\\f", "\\r", "\\t", "rrasset:", "rrtree:",
        "rrasset:sha256:", "url(", ")", "'", "%3C%2F", "=", "==", ";base64,", "data:", "data:image/png;base64,",
        "data:text/plain,hello%20world", "data:image/svg+xml;utf8,<svg/>", "data:font/woff2;base64,d09GMgABAAAAA",
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "Zg==", "Zh==", "Zm9v", "Zm9", "====", " ", "{", "}", "[", "]", ",", ":",
    ]
    static let numbers = ["0", "-0", "1", "-1", "12.50", "1e5", "1E+5", "-2.5e-7", "1.0", "123456789012345678901234567890", "0.000001"]
    static let spaces = ["", "", "", " ", "\n", "\t", "\r\n", "  "]

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func pick<T>(_ options: [T]) -> T { options[Int.random(in: 0..<options.count, using: &rng)] }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }

    mutating func string(maxFragments: Int) {
        out += "\""
        let n = Int.random(in: 0...maxFragments, using: &rng)
        for _ in 0..<n {
            // Base64 payloads long enough to be cut out of text.
            if chance(0.05) {
                let count = Int.random(in: 1...90, using: &rng)
                var bytes = [UInt8]()
                for _ in 0..<count { bytes.append(UInt8.random(in: 0...255, using: &rng)) }
                out += "data:image/png;base64," + Base64.encode(bytes)
            } else {
                out += pick(RandomEvent.fragments)
            }
        }
        out += "\""
    }

    mutating func value(depth: Int) {
        out += pick(RandomEvent.spaces)
        let roll = Int.random(in: 0..<10, using: &rng)
        if depth > 0 && roll < 3 {
            out += "{"
            let n = Int.random(in: 0...5, using: &rng)
            for i in 0..<n {
                if i > 0 { out += "," }
                out += pick(RandomEvent.spaces)
                if chance(0.1) { string(maxFragments: 60) } else { string(maxFragments: 3) }
                out += pick(RandomEvent.spaces) + ":"
                value(depth: depth - 1)
            }
            out += pick(RandomEvent.spaces) + "}"
        } else if depth > 0 && roll < 5 {
            out += "["
            let n = Int.random(in: 0...5, using: &rng)
            for i in 0..<n {
                if i > 0 { out += "," }
                value(depth: depth - 1)
            }
            out += pick(RandomEvent.spaces) + "]"
        } else if roll < 8 {
            string(maxFragments: chance(0.3) ? 40 : 4)
        } else if roll < 9 {
            out += pick(RandomEvent.numbers)
        } else {
            out += pick(["true", "false", "null"])
        }
        out += pick(RandomEvent.spaces)
    }

    static func make(seed: UInt64) -> (event: String, options: RewriteOptions) {
        var generator = RandomEvent(seed: seed)
        generator.out = "{\"type\":2,\"data\":"
        if generator.chance(0.1) {
            // A deep chain.
            let depth = Int.random(in: 20...200, using: &generator.rng)
            generator.out += String(repeating: "[", count: depth)
            generator.value(depth: 2)
            generator.out += String(repeating: "]", count: depth)
        } else {
            generator.value(depth: 6)
        }
        generator.out += "}"
        let options = RewriteOptions(
            minStringSize: Int.random(in: 1...64, using: &generator.rng),
            minTreeSize: Int.random(in: 2...256, using: &generator.rng),
            minEmbeddedDataURISize: Int.random(in: 1...32, using: &generator.rng),
            maxDepth: 512)
        return (generator.out, options)
    }
}

@Suite struct RandomizedRoundTripTests {
    @Test func rehydrateOfRewriteIsTheIdentity() async {
        await propertyCheck(count: 1500, input: Gen.uint64()) { seed in
            let (event, options) = RandomEvent.make(seed: seed)
            let input = bytes(event)
            // The generator only makes valid JSON; check that first, with a clear message.
            try input.withUnsafeBytes { try JSONBytes.validate($0) }
            let sink = CollectingSink()
            var rewriter = Rewriter(options: options)
            let rewritten = try rewriter.rewrite(input) { sink($0) }
            try rewritten.withUnsafeBytes { try JSONBytes.validate($0) }
            let back = try Rehydrator().rehydrate(rewritten, source: sink.source)
            #expect(back == input, "seed \(seed): \(event)")
            // Deterministic: the same input gives the same output.
            var again = Rewriter(options: options)
            #expect(try again.rewrite(input) { _ in } == rewritten)
        }
    }

    @Test func rewritingRewrittenEventsStaysLossless() throws {
        // Rewritten output is ordinary JSON: rewriting it again (e.g. a client-rewritten
        // batch posted to a server that rewrites) must still come back exactly.
        for seed in UInt64(0)..<300 {
            let (event, options) = RandomEvent.make(seed: seed)
            let sink = CollectingSink()
            var rewriter = Rewriter(options: options)
            do {
                let once = try rewriter.rewrite(bytes(event)) { sink($0) }
                let twice = try rewriter.rewrite(once) { sink($0) }
                let rehydrator = Rehydrator()
                let back = try rehydrator.rehydrate(try rehydrator.rehydrate(twice, source: sink.source), source: sink.source)
                #expect(back == bytes(event), "seed \(seed)")
            } catch {
                Issue.record("seed \(seed): \(error)")
            }
        }
    }
}

@Suite struct RewriteErrorTests {
    @Test func invalidJSONIsAClearErrorWithItsOffset() {
        var rewriter = Rewriter()
        var out = [UInt8]()
        do {
            try bytes(#"{"type":2,"data":{"a":[1,2,}}"#).withUnsafeBytes { try rewriter.rewrite($0, into: &out) { _ in } }
            Issue.record("invalid JSON must throw")
        } catch let error as RRStoreError {
            #expect(error.code == .invalidJSON)
            #expect(error.offset == 27)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func aReferenceToAMissingAssetIsAClearError() throws {
        let event = #"{"a":"rrasset:sha256:\#(sha("nothing").hex)"}"#
        do {
            _ = try Rehydrator().rehydrate(bytes(event), source: InMemoryAssetSource())
            Issue.record("a missing asset must throw")
        } catch let error as RRStoreError {
            #expect(error.code == .missingAsset)
            #expect(error.message.contains(sha("nothing").description))
        }
    }

    @Test(arguments: ["rrasset:sha256:123", "rrasset:sha256:\(String(repeating: "A", count: 64))", "rrtree:sha256:\(String(repeating: "0", count: 64));json",
                      "rrasset:md5:0", "rrasset:sha256:\(String(repeating: "0", count: 64));data:image/png", "rrasset:sha256:\(String(repeating: "0", count: 64));zip"])
    func malformedReferencesAreRejected(reference: String) {
        do {
            _ = try Rehydrator().rehydrate(bytes(#"{"a":"\#(reference)"}"#), source: InMemoryAssetSource())
            Issue.record("\(reference) must be rejected")
        } catch let error as RRStoreError {
            #expect(error.code == .invalidReference, "\(reference): \(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func referenceParsingRoundTrips() throws {
        let digest = sha("x")
        for ref in [AssetReference(digest: digest, kind: .text), AssetReference(digest: digest, kind: .jsonText),
                    AssetReference(digest: digest, kind: .nestedText), AssetReference(digest: digest, kind: .tree),
                    AssetReference(digest: digest, kind: .dataURI, dataHeader: "image/svg+xml;charset=utf-8;base64")] {
            #expect(try AssetReference(parsing: ref.description) == ref)
        }
    }
}
