import Foundation
import RRStoreCore
import Testing
import RRStoreTestSupport

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

/// Collects what the rewriter extracts, like a store would.
final class CollectingSink {
    var assets: [SHA256Digest: [UInt8]] = [:]
    var extracted: [AssetReference] = []
    var source: InMemoryAssetSource { InMemoryAssetSource(assets) }

    func callAsFunction(_ asset: ExtractedAsset) {
        let stored = Array(asset.bytes)
        #expect(SHA256Digest.hash(stored) == asset.digest, "every asset is named by the SHA-256 of its stored bytes")
        if let existing = assets[asset.digest] { #expect(existing == stored) }
        assets[asset.digest] = stored
        extracted.append(asset.reference)
    }
}

/// Rewrites `input`, rehydrates the result, and checks it is the input byte for byte.
@discardableResult
func roundTrip(_ input: [UInt8], options: RewriteOptions = RewriteOptions(), sink: CollectingSink = CollectingSink(),
               sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
    var rewriter = Rewriter(options: options)
    let rewritten = try rewriter.rewrite(input) { sink($0) }
    let back = try Rehydrator().rehydrate(rewritten, source: sink.source)
    #expect(back == input, "rehydrate(rewrite(x)) == x for \(text(Array(input.prefix(200))))", sourceLocation: sourceLocation)
    return rewritten
}

func sha(_ s: String) -> SHA256Digest { SHA256Digest.hash(Array(s.utf8)) }
func sha(_ b: [UInt8]) -> SHA256Digest { SHA256Digest.hash(b) }

/// Splits JSON text into events with `EventStream`, fed in chunks of `chunkSize`.
func frameEvents(_ input: [UInt8], chunkSize: Int = 1 << 16) throws -> [[UInt8]] {
    var stream = EventStream()
    var events: [[UInt8]] = []
    let handler: EventStream.Handler = { remainder in
        var visitor = ValidatingVisitor()
        let length = try JSONParser.parsePrefix(remainder, visitor: &visitor)
        events.append(Array(remainder[..<length]))
        return length
    }
    var offset = 0
    while offset < input.count {
        let end = min(offset + chunkSize, input.count)
        try input[offset..<end].withUnsafeBytes { try stream.feed($0, handler) }
        offset = end
    }
    try stream.finish(handler)
    return events
}

