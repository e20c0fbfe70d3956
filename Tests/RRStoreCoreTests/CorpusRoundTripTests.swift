import Foundation
import RRStoreCore
import Testing
import RRStoreTestSupport

/// Every session of the real corpus, rewritten and rehydrated.
@Suite struct CorpusRoundTripTests {
    @Test func everySessionRoundTripsByteForByteAndDeduplicates() throws {
        let sessions = try Corpus.sessions()
        #expect(sessions.count >= 24)
        let sink = CollectingSink()
        var rewriter = Rewriter()
        let rehydrator = Rehydrator()
        var rawBytes = 0
        var rewrittenBytes = 0
        for url in sessions {
            let raw = try Corpus.load(url)
            rawBytes += raw.count
            let events = try frameEvents(raw, chunkSize: 1 << 20)
            #expect(events.count > 10, "\(url.lastPathComponent) has events")
            // The corpus is JSON.stringify output: the events are exactly the array's elements.
            #expect(bytes("[") + Array(events.joined(separator: bytes(","))) + bytes("]") == raw,
                    "\(url.lastPathComponent): the framer yields each event's exact bytes")
            for (index, event) in events.enumerated() {
                var rewritten = [UInt8]()
                try event.withUnsafeBytes { try rewriter.rewrite($0, into: &rewritten) { sink($0) } }
                rewrittenBytes += rewritten.count
                let back = try rehydrator.rehydrate(rewritten, source: sink.source)
                if back != event {
                    Issue.record("\(url.lastPathComponent) event \(index) does not round-trip")
                }
            }
        }
        let assetBytes = sink.assets.values.reduce(0) { $0 + $1.count }
        let kinds = Set(sink.extracted.map(\.kind))
        #expect(kinds.isSuperset(of: [.dataURI, .text, .tree]), "the corpus has images, stylesheets and repeated snapshots")
        // Stored = rewritten events + each distinct asset once, before any compression.
        // (DESIGN.md's 7% is after compressing chunks and assets; here, ~21%.)
        let stored = rewrittenBytes + assetBytes
        #expect(stored * 4 < rawBytes, "stored \(stored) of \(rawBytes) raw bytes")
    }
}
