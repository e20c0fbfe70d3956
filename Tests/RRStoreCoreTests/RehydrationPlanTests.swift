import RRStoreCore
import Testing
import RRStoreTestSupport

/// The plan a reader follows to fetch what an event needs: level by level, each digest
/// once, and in URL mode nothing a link replaces.
@Suite struct RehydrationPlanTests {
    typealias T = RewriterGoldenTests

    /// Follows the plan against `store`, counting the levels, and rehydrates.
    func follow(_ event: [UInt8], mode: RehydrateMode, store: [SHA256Digest: [UInt8]]) throws -> (out: [UInt8], levels: [[AssetReference]]) {
        var plan = try RehydrationPlan(event: event, mode: mode)
        var levels: [[AssetReference]] = []
        while case let level = plan.takeWanted(), !level.isEmpty {
            levels.append(level)
            for reference in level {
                let bytes = try #require(store[reference.digest], "the plan wants only what the event names")
                try plan.supply(reference, bytes: bytes)
            }
        }
        let out = try Rehydrator(mode: mode).rehydrate(event, source: plan.assets)
        return (out, levels)
    }

    @Test func inlineWantsEveryLevelOnceAndURLModeSkipsWhatALinkReplaces() throws {
        let style = "background-image: url(\"\(T.pngURI)\"); color: red"
        let page = #"{"type":2,"node":{"childNodes":[{"tagName":"img","attributes":{"src":"\#(T.png2URI)","style":"\#(T.json(style))"},"pad":"\#(String(repeating: "x", count: 5000))"}],"again":"\#(T.png2URI)"}}"#
        let sink = CollectingSink()
        var rewriter = Rewriter(options: RewriteOptions(minTreeSize: 64))
        let rewritten = try rewriter.rewrite(bytes(page)) { sink($0) }

        let inline = try follow(rewritten, mode: .inline, store: sink.assets)
        #expect(inline.out == bytes(page))
        let wanted = inline.levels.flatMap { $0 }
        #expect(Set(wanted.map(\.digest)).count == wanted.count, "each digest is wanted once")
        #expect(Set(wanted.map(\.digest)) == Set(sink.assets.keys), "inline needs every asset")
        #expect(inline.levels.count >= 2, "a tree's children are wanted after the tree")
        let embedded = try #require(wanted.first { $0.digest == sha(T.png) })
        #expect(embedded.kind == .dataURI && embedded.mediaType == "image/png", "an image inside CSS is labelled as the image it is")

        let url = try follow(rewritten, mode: .url(base: "https://h"), store: sink.assets)
        #expect(!url.levels.flatMap { $0 }.contains { $0.kind == .dataURI }, "URL mode fetches no data-URI payload")
        #expect(text(url.out).contains("https://h/assets/sha256:\(sha(T.png2).hex)"))
        #expect(text(url.out).contains("https://h/assets/sha256:\(sha(T.png).hex)"), "links inside CSS too")
    }

    @Test func anEventWithoutReferencesNeedsNothingAndACorruptTreeIsNamed() throws {
        let plain = try RehydrationPlan(event: bytes(#"{"type":4,"data":{"href":"x"}}"#), mode: .inline)
        #expect(plain.needsNothing)
        // URL mode: an event whose only reference becomes a link fetches nothing, but is not
        // put back as it is (that would leak the reference into the read).
        let linkOnly = try RehydrationPlan(event: bytes(#"{"src":"rrasset:sha256:\#(sha("x").hex);data:image/png;base64"}"#), mode: .url(base: "https://h"))
        #expect(!linkOnly.needsNothing)
        let digest = sha("not json {")
        var plan = try RehydrationPlan(event: bytes(#"{"a":"rrtree:sha256:\#(digest.hex)"}"#), mode: .inline)
        let level = plan.takeWanted()
        #expect(level.map(\.kind) == [.tree])
        #expect(plan.takeWanted().isEmpty, "handed over once")
        let error = #expect(throws: RRStoreError.self) { try plan.supply(level[0], bytes: bytes("not json {")) }
        #expect(error?.code == .corruptAsset)
        #expect(error?.message.contains(digest.hex) == true)
    }

    /// Every event of every corpus session, planned and followed in both modes, is what the
    /// rehydrator makes from a source holding every asset.
    @Test func everyCorpusEventFollowsItsPlanToTheSameBytes() throws {
        let sessions = try Corpus.sessions()
        #expect(sessions.count >= 24)
        let sink = CollectingSink()
        var rewriter = Rewriter()
        let modes: [RehydrateMode] = [.inline, .url(base: "https://h")]
        for url in sessions {
            for (index, event) in try frameEvents(try Corpus.load(url), chunkSize: 1 << 20).enumerated() {
                let rewritten = try rewriter.rewrite(event) { sink($0) }
                for mode in modes {
                    let planned = try follow(rewritten, mode: mode, store: sink.assets).out
                    let whole = try Rehydrator(mode: mode).rehydrate(rewritten, source: sink.source)
                    if planned != whole { Issue.record("\(url.lastPathComponent) event \(index), \(mode): the plan missed an asset") }
                }
            }
        }
    }
}
