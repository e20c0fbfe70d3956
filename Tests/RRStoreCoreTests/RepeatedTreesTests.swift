import Foundation
import RRStoreCore
import Testing
import RRStoreTestSupport

/// Stepping over repeated subtrees (`RepeatedTrees`) must change nothing but speed: the
/// same output and the same assets handed over in the same order as a rewriter that
/// parses everything.
@Suite struct RepeatedTreesTests {
    /// Rewrites `events` in order with one rewriter; returns each event's output and every
    /// asset reference handed over, checking that each asset's bytes hash to its name.
    static func rewriteAll(_ events: [[UInt8]], options: RewriteOptions) throws -> (outputs: [[UInt8]], handed: [AssetReference], skipped: Int) {
        var rewriter = Rewriter(options: options)
        var outputs: [[UInt8]] = []
        var handed: [AssetReference] = []
        for event in events {
            var out: [UInt8] = []
            try event.withUnsafeBytes { input in
                try rewriter.rewrite(input, into: &out) { asset in
                    if SHA256Digest.hash(asset.bytes) != asset.digest {
                        Issue.record("\(asset.reference) handed over with bytes of another digest")
                    }
                    handed.append(asset.reference)
                }
            }
            outputs.append(out)
        }
        return (outputs, handed, rewriter.repeatsSkipped.bytes)
    }

    static func withoutCaches(_ options: RewriteOptions) -> RewriteOptions {
        var plain = options
        plain.recentAssetsBytes = 0
        return plain
    }

    @Test func everyCorpusSessionRewritesAlikeWithAndWithoutSkipping() throws {
        var events: [[UInt8]] = []
        for url in try Corpus.sessions() { events += try frameEvents(try Corpus.load(url), chunkSize: 1 << 20) }
        let total = events.reduce(0) { $0 + $1.count }
        let skipping = try Self.rewriteAll(events, options: RewriteOptions())
        let parsing = try Self.rewriteAll(events, options: Self.withoutCaches(RewriteOptions()))
        #expect(parsing.skipped == 0)
        #expect(skipping.outputs == parsing.outputs, "same rewritten events")
        #expect(skipping.handed == parsing.handed, "same assets handed over, in the same order")
        // Whole pages are snapshotted again at each checkout: most bytes are repeats.
        #expect(skipping.skipped * 2 > total, "stepped over \(skipping.skipped) of \(total) bytes")
    }

    /// A subtree of roughly `size` bytes whose bytes depend on `seed`, nested `depth` deep.
    static func subtree(_ seed: Int, size: Int, depth: Int = 3, rng: inout SplitMix64) -> String {
        var inner = (0..<max(1, size / 40)).map { "{\"id\":\($0),\"s\":\"v\(seed)-\($0)\"}" }.joined(separator: ",")
        if Int.random(in: 0..<3, using: &rng) == 0 {
            inner += ",\"" + String(repeating: "x", count: 150) + "\(seed)\""  // a string asset inside
        }
        var tree = "[\(inner)]"
        for level in 0..<depth { tree = "{\"level\":\(level),\"child\":\(tree)}" }
        return tree
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func randomEventsOfRepeatedSubtreesRewriteAlike(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        // Small thresholds and a small cache, so trees nest, repeat, and get evicted.
        let options = RewriteOptions(minStringSize: 100, minTreeSize: 300, minEmbeddedDataURISize: 100,
                                     recentAssetsBytes: [20_000, 60_000, 200_000, 1 << 20][seed % 4])
        let pool = (0..<12).map { Self.subtree($0, size: [100, 400, 1_500, 6_000][$0 % 4], rng: &rng) }
        var events: [[UInt8]] = []
        for index in 0..<60 {
            let parts = (0..<Int.random(in: 1...5, using: &rng)).map { _ -> String in
                let part = pool.randomElement(using: &rng)!
                // Sometimes wrap a repeat in a new parent, or change one byte of it.
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: return "{\"wrapper\":\(index),\"body\":[\(part),\(pool.randomElement(using: &rng)!)]}"
                case 1: return part.replacingOccurrences(of: "\"id\":1,", with: "\"id\":\(index),")
                default: return part
                }
            }
            events.append(bytes("{\"type\":2,\"data\":[\(parts.joined(separator: ","))],\"timestamp\":\(index)}"))
        }
        let skipping = try Self.rewriteAll(events, options: options)
        let parsing = try Self.rewriteAll(events, options: Self.withoutCaches(options))
        #expect(skipping.outputs == parsing.outputs)
        #expect(skipping.handed == parsing.handed)
        #expect(skipping.skipped > 0, "repeats were stepped over")
    }

    @Test func aRepeatDeeperThanTheLimitAllowsIsStillRejected() throws {
        // One tree (no smaller ones inside) whose own containers nest 5 deep.
        let tree = "[" + (0..<30).map { "{\"k\":[[[\($0)]]]}" }.joined(separator: ",") + "]"
        var rewriter = Rewriter(options: RewriteOptions(minTreeSize: 300, maxDepth: 10))
        _ = try rewriter.rewrite(bytes("{\"a\":\(tree)}")) { _ in }
        #expect(rewriter.repeatsSkipped.trees == 0)
        _ = try rewriter.rewrite(bytes("{\"b\":\(tree)}")) { _ in }
        #expect(rewriter.repeatsSkipped.trees == 1, "the same tree at the same depth is stepped over")
        // Six arrays deeper, its innermost arrays would sit at depth 11 > 10: parsed, and refused.
        do {
            _ = try rewriter.rewrite(bytes("{\"a\":[[[[[[\(tree)]]]]]]}")) { _ in }
            Issue.record("JSON deeper than the limit was accepted")
        } catch let error as RRStoreError {
            #expect(error.code == .nestingTooDeep)
        }
        #expect(rewriter.repeatsSkipped.trees == 1)
    }

    @Test func aRepeatCutByTheEndOfTheBufferIsNotSteppedOver() throws {
        var rng = SplitMix64(seed: 10)
        let tree = Self.subtree(2, size: 2_000, rng: &rng)
        var rewriter = Rewriter(options: RewriteOptions(minTreeSize: 300))
        _ = try rewriter.rewrite(bytes("{\"a\":\(tree)}")) { _ in }
        let event = bytes("{\"b\":\(tree)}")
        let cut = Array(event.prefix(event.count - 10))
        var out: [UInt8] = []
        do {
            _ = try cut.withUnsafeBytes { try rewriter.rewritePrefix($0, into: &out) { _ in } }
            Issue.record("a truncated event was accepted")
        } catch let error as RRStoreError {
            #expect(error.code == .truncatedInput)
            #expect(error.offset == cut.count)
        }
        #expect(out.isEmpty, "nothing written for the incomplete event")
        let whole = try event.withUnsafeBytes { try rewriter.rewritePrefix($0, into: &out) { _ in } }
        #expect(whole == event.count)
        #expect(rewriter.repeatsSkipped.trees == 1)
        var fresh = Rewriter(options: RewriteOptions(minTreeSize: 300, recentAssetsBytes: 0))
        #expect(out == (try fresh.rewrite(event) { _ in }))
    }

    @Test func nearMissesAtEveryLevelStopBeingProbed() throws {
        // 300 nested arrays, each a tree with its own numbers before its child: every level
        // starts alike, so each probe finds candidates that match for most of the event.
        func nested(innermost: String) -> String {
            var tree = "[\(String(repeating: "0,", count: 159))\(innermost)]"
            for _ in 0..<300 { tree = "[\(String(repeating: "0,", count: 160))\(tree)]" }
            return tree
        }
        let events = [bytes("{\"a\":\(nested(innermost: "0"))}"), bytes("{\"a\":\(nested(innermost: "1"))}")]
        let options = RewriteOptions(minTreeSize: 300)
        var rewriter = Rewriter(options: options)
        var outputs: [[UInt8]] = []
        for event in events { outputs.append(try rewriter.rewrite(event) { _ in }) }
        #expect(rewriter.repeatProbesRefused > 0, "comparisons in vain are bounded")
        #expect(outputs == (try Self.rewriteAll(events, options: Self.withoutCaches(options))).outputs)
    }
}
