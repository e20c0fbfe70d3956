import RRStoreCore
import Testing
import RRStoreTestSupport

/// One small hand-written event for each place DESIGN.md says assets live in rrweb events.
@Suite struct RewriterGoldenTests {
    // Payloads: deterministic bytes, big enough for the default 1 KiB threshold.
    static func blob(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }
    static let png = blob(900, seed: 1)
    static let png2 = blob(1200, seed: 2)
    static let font = blob(2000, seed: 3)
    static let pngURI = "data:image/png;base64," + Base64.encode(png)
    static let png2URI = "data:image/png;base64," + Base64.encode(png2)
    static let fontURI = "data:font/woff2;base64," + Base64.encode(font)
    /// CSS with quotes and newlines, which JSON escapes.
    static let css = String(repeating: "body .x > a[href=\"/y\"] { color: red; font: 12px 'Sans'; }\n", count: 24)

    /// JSON.stringify's escaping, written independently of the code under test.
    static func json(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
    static func dataRef(_ payload: [UInt8], _ header: String = "image/png;base64") -> String {
        "rrasset:sha256:\(sha(payload).hex);data:\(header)"
    }
    static func textRef(_ s: String) -> String { "rrasset:sha256:\(sha(s).hex)" }

    /// Rewrites `event`, checks the exact output and the kinds extracted, then the round trip.
    func check(_ event: String, _ expected: String, kinds: [AssetKind], options: RewriteOptions = RewriteOptions(),
               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let sink = CollectingSink()
        let rewritten = try roundTrip(bytes(event), options: options, sink: sink, sourceLocation: sourceLocation)
        #expect(text(rewritten) == expected, sourceLocation: sourceLocation)
        #expect(sink.extracted.map(\.kind) == kinds, sourceLocation: sourceLocation)
    }

    typealias T = RewriterGoldenTests

    @Test func fullSnapshotInlinedStylesheetCssText() throws {
        try check(
            #"{"type":2,"data":{"node":{"type":2,"tagName":"link","attributes":{"rel":"stylesheet","_cssText":"\#(T.json(T.css))"},"id":5}},"timestamp":1}"#,
            #"{"type":2,"data":{"node":{"type":2,"tagName":"link","attributes":{"rel":"stylesheet","_cssText":"\#(T.textRef(T.css))"},"id":5}},"timestamp":1}"#,
            kinds: [.text])
    }

    @Test func legacyStyleTextChild() throws {
        try check(
            #"{"type":3,"textContent":"\#(T.json(T.css))","isStyle":true,"id":9}"#,
            #"{"type":3,"textContent":"\#(T.textRef(T.css))","isStyle":true,"id":9}"#,
            kinds: [.text])
    }

    @Test func inlinedImageRrDataURLIsStoredDecoded() throws {
        let sink = CollectingSink()
        let rewritten = try roundTrip(bytes(#"{"type":2,"tagName":"img","attributes":{"src":"http://x/a.png","rr_dataURL":"\#(T.pngURI)"},"id":3}"#), sink: sink)
        #expect(text(rewritten) == #"{"type":2,"tagName":"img","attributes":{"src":"http://x/a.png","rr_dataURL":"\#(T.dataRef(T.png))"},"id":3}"#)
        #expect(sink.assets[sha(T.png)] == T.png, "the image is stored as its decoded bytes")
        #expect(sink.extracted.first?.mediaType == "image/png")
    }

    @Test(arguments: ["src", "href", "xlink:href", "poster", "background", "data", "data-anything"])
    func dataURIInAnyAttribute(attribute: String) throws {
        try check(
            #"{"type":2,"tagName":"x","attributes":{"\#(attribute)":"\#(T.png2URI)"},"childNodes":[],"id":4}"#,
            #"{"type":2,"tagName":"x","attributes":{"\#(attribute)":"\#(T.dataRef(T.png2))"},"childNodes":[],"id":4}"#,
            kinds: [.dataURI])
    }

    @Test func srcsetAndStyleWithEmbeddedDataURIsAreCutOutOfTheText() throws {
        let srcset = "\(T.pngURI) 1x, \(T.png2URI) 2x"
        let nestedSrcset = "data:image/png;base64,rrasset:sha256:\(sha(T.png).hex) 1x, data:image/png;base64,rrasset:sha256:\(sha(T.png2).hex) 2x"
        let style = "background-image: url(\"\(T.pngURI)\"); color: red"
        let nestedStyle = "background-image: url(\"data:image/png;base64,rrasset:sha256:\(sha(T.png).hex)\"); color: red"
        try check(
            #"{"attributes":{"srcset":"\#(srcset)","style":"\#(T.json(style))"}}"#,
            #"{"attributes":{"srcset":"rrasset:sha256:\#(sha(nestedSrcset).hex);nested","style":"rrasset:sha256:\#(sha(nestedStyle).hex);nested"}}"#,
            kinds: [.dataURI, .dataURI, .nestedText, .dataURI, .nestedText])
    }

    @Test func mutationAddsAttributesAndTexts() throws {
        let bigText = String(repeating: "lorem ipsum ", count: 100)
        let styleObject = "url(\(T.pngURI))"
        let nestedStyleObject = "url(data:image/png;base64,rrasset:sha256:\(sha(T.png).hex))"
        try check(
            #"{"type":3,"data":{"source":0,"adds":[{"parentId":1,"nextId":null,"node":{"type":2,"tagName":"img","attributes":{"rr_dataURL":"\#(T.png2URI)"},"childNodes":[],"id":7}}],"removes":[],"attributes":[{"id":7,"attributes":{"src":"\#(T.pngURI)","style":{"background-image":"\#(styleObject)","color":"red"}}}],"texts":[{"id":8,"value":"\#(bigText)"}]},"timestamp":2}"#,
            #"{"type":3,"data":{"source":0,"adds":[{"parentId":1,"nextId":null,"node":{"type":2,"tagName":"img","attributes":{"rr_dataURL":"\#(T.dataRef(T.png2))"},"childNodes":[],"id":7}}],"removes":[],"attributes":[{"id":7,"attributes":{"src":"\#(T.dataRef(T.png))","style":{"background-image":"rrasset:sha256:\#(sha(nestedStyleObject).hex);nested","color":"red"}}}],"texts":[{"id":8,"value":"\#(T.textRef(bigText))"}]},"timestamp":2}"#,
            kinds: [.dataURI, .dataURI, .dataURI, .nestedText, .text])
    }

    @Test func styleSheetRuleStyleDeclarationAndAdoptedStyleSheet() throws {
        let rule = ".a { color: blue; }" + String(repeating: " .b { margin: 0 }", count: 70)
        try check(
            #"{"type":3,"data":{"source":8,"id":3,"adds":[{"rule":"\#(rule)","index":0}]}}"#,
            #"{"type":3,"data":{"source":8,"id":3,"adds":[{"rule":"\#(T.textRef(rule))","index":0}]}}"#,
            kinds: [.text])
        try check(
            #"{"type":3,"data":{"source":8,"id":3,"replace":"\#(rule)"}}"#,
            #"{"type":3,"data":{"source":8,"id":3,"replace":"\#(T.textRef(rule))"}}"#, kinds: [.text])
        try check(
            #"{"type":3,"data":{"source":8,"id":3,"replaceSync":"\#(rule)"}}"#,
            #"{"type":3,"data":{"source":8,"id":3,"replaceSync":"\#(T.textRef(rule))"}}"#, kinds: [.text])
        let value = "url(\(T.png2URI))"
        try check(
            #"{"type":3,"data":{"source":13,"id":3,"index":[0],"set":{"property":"background","value":"\#(value)","priority":""}}}"#,
            #"{"type":3,"data":{"source":13,"id":3,"index":[0],"set":{"property":"background","value":"rrasset:sha256:\#(sha("url(data:image/png;base64,rrasset:sha256:\(sha(T.png2).hex))").hex);nested","priority":""}}}"#,
            kinds: [.dataURI, .nestedText])
        try check(
            #"{"type":3,"data":{"source":15,"id":1,"styleIds":[1],"styles":[{"styleId":1,"rules":[{"rule":"\#(rule)"}]}]}}"#,
            #"{"type":3,"data":{"source":15,"id":1,"styleIds":[1],"styles":[{"styleId":1,"rules":[{"rule":"\#(T.textRef(rule))"}]}]}}"#,
            kinds: [.text])
    }

    @Test func fontFaceSourceKeepsTheFontSharedWhenTheTextAroundItChanges() throws {
        let sourceA = "url(\(T.fontURI))"
        let sourceB = "url(\(T.fontURI)) format(\"woff2\")"
        let sink = CollectingSink()
        try roundTrip(bytes(#"{"type":3,"data":{"source":10,"family":"A","fontSource":"\#(sourceA)","buffer":false,"descriptors":{}}}"#), sink: sink)
        try roundTrip(bytes(#"{"type":3,"data":{"source":10,"family":"B","fontSource":"\#(T.json(sourceB))","buffer":false,"descriptors":{}}}"#), sink: sink)
        #expect(sink.extracted.map(\.kind) == [.dataURI, .nestedText, .dataURI, .nestedText])
        #expect(sink.extracted[0] == sink.extracted[2], "the same font, one asset")
        #expect(sink.extracted[0].mediaType == "font/woff2")
        #expect(sink.assets[sha(T.font)] == T.font)
        #expect(sink.extracted[1] != sink.extracted[3])
    }

    @Test func cssWithFontFaceAndImages() throws {
        let css = "@font-face { font-family: X; src: url(\"\(T.fontURI)\") format(\"woff2\"); }\n.logo { background: url('\(T.pngURI)'); }\n.tiny { background: url(data:image/gif;base64,R0lGODlhAQABAAAAACw=); }"
        let nested = "@font-face { font-family: X; src: url(\"data:font/woff2;base64,rrasset:sha256:\(sha(T.font).hex)\") format(\"woff2\"); }\n.logo { background: url('data:image/png;base64,rrasset:sha256:\(sha(T.png).hex)'); }\n.tiny { background: url(data:image/gif;base64,R0lGODlhAQABAAAAACw=); }"
        try check(
            #"{"attributes":{"_cssText":"\#(T.json(css))"}}"#,
            #"{"attributes":{"_cssText":"rrasset:sha256:\#(sha(nested).hex);nested"}}"#,
            kinds: [.dataURI, .dataURI, .nestedText])
    }

    @Test func canvasMutationArguments() throws {
        let raw = Base64.encode(T.png2)
        try check(
            #"{"type":3,"data":{"source":9,"id":12,"type":0,"commands":[{"property":"drawImage","args":[{"rr_type":"HTMLImageElement","src":"\#(T.pngURI)"},0,0]},{"property":"putImageData","args":[{"rr_type":"ImageData","args":[{"rr_type":"Uint8ClampedArray","args":[{"rr_type":"ArrayBuffer","base64":"\#(raw)"}]},10,10]},0,0]},{"property":"drawImage","args":[{"rr_type":"ImageBitmap","args":[{"rr_type":"Blob","data":[{"rr_type":"ArrayBuffer","base64":"\#(raw)"}],"type":"image/png"}]},0,0]}]}}"#,
            #"{"type":3,"data":{"source":9,"id":12,"type":0,"commands":[{"property":"drawImage","args":[{"rr_type":"HTMLImageElement","src":"\#(T.dataRef(T.png))"},0,0]},{"property":"putImageData","args":[{"rr_type":"ImageData","args":[{"rr_type":"Uint8ClampedArray","args":[{"rr_type":"ArrayBuffer","base64":"\#(T.textRef(raw))"}]},10,10]},0,0]},{"property":"drawImage","args":[{"rr_type":"ImageBitmap","args":[{"rr_type":"Blob","data":[{"rr_type":"ArrayBuffer","base64":"\#(T.textRef(raw))"}],"type":"image/png"}]},0,0]}]}}"#,
            kinds: [.dataURI, .text, .text])
    }

    @Test func assetCustomAndPluginEvents() throws {
        let raw = Base64.encode(T.png)
        try check(
            #"{"type":7,"data":{"url":"blob:http://x/1","payload":{"rr_type":"Blob","data":[{"rr_type":"ArrayBuffer","base64":"\#(raw)"}],"type":"image/png"}},"timestamp":5}"#,
            #"{"type":7,"data":{"url":"blob:http://x/1","payload":{"rr_type":"Blob","data":[{"rr_type":"ArrayBuffer","base64":"\#(T.textRef(raw))"}],"type":"image/png"}},"timestamp":5}"#,
            kinds: [.text])
        let log = String(repeating: "TypeError: x is undefined at f (app.js:1:2)\n", count: 30)
        try check(
            #"{"type":6,"data":{"plugin":"rrweb/console@1","payload":{"level":"error","trace":[],"payload":["\#(T.json(log))"]}},"timestamp":6}"#,
            #"{"type":6,"data":{"plugin":"rrweb/console@1","payload":{"level":"error","trace":[],"payload":["\#(T.textRef(log))"]}},"timestamp":6}"#,
            kinds: [.text])
        try check(
            #"{"type":5,"data":{"tag":"screenshot","payload":{"image":"\#(T.pngURI)"}},"timestamp":7}"#,
            #"{"type":5,"data":{"tag":"screenshot","payload":{"image":"\#(T.dataRef(T.png))"}},"timestamp":7}"#,
            kinds: [.dataURI])
    }

    @Test func repeatedSubtreesAreOneTreeAssetAndAChangedLeafReStoresOnlyItsPath() throws {
        func item(_ id: Int, _ label: String) -> String {
            #"{"type":2,"tagName":"li","attributes":{"class":"nav-item"},"childNodes":[{"type":3,"textContent":"\#(label)","id":\#(id + 1)}],"id":\#(id)}"#
        }
        func section(_ s: Int, _ labels: [String]) -> String {
            let items = labels.enumerated().map { item(1000 * s + $0.offset * 2, $0.element) }.joined(separator: ",")
            return #"{"type":2,"tagName":"ul","attributes":{},"childNodes":[\#(items)],"id":\#(s)}"#
        }
        func page(_ sections: [[String]], timestamp: Int) -> String {
            let body = sections.enumerated().map { section($0.offset + 1, $0.element) }.joined(separator: ",")
            return #"{"type":2,"data":{"node":{"type":0,"childNodes":[\#(body)],"id":1},"initialOffset":{"left":0,"top":0}},"timestamp":\#(timestamp)}"#
        }
        // Items (~110 bytes) stay inline; each section's list (~1.6 KB) and the list of sections are trees.
        let sections = (0..<4).map { s in (0..<15).map { "Section \(s) item \($0)" } }
        let options = RewriteOptions(minTreeSize: 256)
        let sink = CollectingSink()
        let first = try roundTrip(bytes(page(sections, timestamp: 1)), options: options, sink: sink)
        let trees = Set(sink.extracted.filter { $0.kind == .tree })
        #expect(trees.count == 5, "four section lists and the list of sections")
        #expect(first.count < 300, "the snapshot shrinks to a few references: \(text(first))")

        let again = try roundTrip(bytes(page(sections, timestamp: 2)), options: options, sink: sink)
        #expect(Array(again.dropLast(2)) == Array(first.dropLast(2)), "a repeated snapshot is the same reference")
        #expect(Set(sink.extracted.filter { $0.kind == .tree }) == trees)

        var changed = sections
        changed[2][7] = "Changed"
        let before = Set(sink.assets.keys)
        try roundTrip(bytes(page(changed, timestamp: 3)), options: options, sink: sink)
        let added = Set(sink.assets.keys).subtracting(before)
        #expect(added.count == 2, "only the path from the changed leaf up is stored again: its section list and the list of sections")
        let addedBytes = added.reduce(0) { $0 + sink.assets[$1]!.count }
        #expect(addedBytes < page(sections, timestamp: 1).utf8.count / 2, "the unchanged sections are not stored again")
    }

    @Test func theEventItselfIsNeverATreeAndKeysAreNeverAssets() throws {
        let longKey = String(repeating: "k", count: 5000)
        let event = #"{"\#(longKey)":1,"rrasset:sha256:x":2}"#
        try check(event, event, kinds: [], options: RewriteOptions(minStringSize: 16, minTreeSize: 16))
    }

    @Test func stringsThatLookLikeReferencesAreAlwaysExtracted() throws {
        let lookalikes = ["rrasset:sha256:abc", "rrtree:", "rrasset:", "rrtree:sha256:\(sha("x").hex)", "rrasset:sha256:\(sha("x").hex);data:image/png;base64"]
        for s in lookalikes {
            try check(#"{"a":"\#(s)"}"#, #"{"a":"\#(T.textRef(s))"}"#, kinds: [.text])
        }
        let escaped = #"rrasset:\/x"#
        try check(#"{"a":"\#(escaped)"}"#, #"{"a":"rrasset:sha256:\#(sha(escaped).hex);json"}"#, kinds: [.jsonText])
        // Short strings that merely contain the marker stay as they are.
        try check(#"{"a":"x rrasset:y"}"#, #"{"a":"x rrasset:y"}"#, kinds: [])
    }

    @Test func textThatHoldsTheMarkerIsNotCutIntoNestedText() throws {
        let s = "rrasset:sha256:0 and url(\(T.pngURI))"
        try check(#"{"a":"\#(s)"}"#, #"{"a":"\#(T.textRef(s))"}"#, kinds: [.text])
    }

    @Test func nonCanonicalEncodingsStayExact() throws {
        // Unused bits set in the last quantum: decoding would lose them.
        var payload = Base64.encode(T.png2)  // 1200 bytes: no padding
        payload.removeLast(2)
        payload += "Z="  // 'Z' has low bits set where '=' follows
        let odd = "data:image/png;base64,\(payload)"
        try check(#"{"src":"\#(odd)"}"#, #"{"src":"\#(T.textRef(odd))"}"#, kinds: [.text])
        let escapedSlash = "data:image\\/png;base64," + Base64.encode(T.png)
        try check(#"{"src":"\#(escapedSlash)"}"#, #"{"src":"rrasset:sha256:\#(sha(escapedSlash).hex);json"}"#, kinds: [.jsonText])
        let loneSurrogate = String(repeating: "a", count: 1100) + "\\ud800"
        try check(#"{"t":"\#(loneSurrogate)"}"#, #"{"t":"rrasset:sha256:\#(sha(loneSurrogate).hex);json"}"#, kinds: [.jsonText])
        let percent = "data:image/svg+xml," + String(repeating: "%3Csvg%20xmlns%3D%22http%3A%2F%2Fwww.w3.org%22%3E", count: 30)
        try check(#"{"src":"\#(percent)"}"#, #"{"src":"\#(T.textRef(percent))"}"#, kinds: [.text])
        let controls = String(repeating: "x\\u0001\\u001f\\b\\f", count: 200)
        let decoded = String(repeating: "x\u{01}\u{1f}\u{08}\u{0c}", count: 200)
        try check(#"{"t":"\#(controls)"}"#, #"{"t":"\#(T.textRef(decoded))"}"#, kinds: [.text])
    }

    @Test func urlModeLinksDataURIAssetsAndKeepsTextInline() throws {
        let css = ".logo { background: url('\(T.pngURI)'); }" + String(repeating: " ", count: 10)
        let event = #"{"a":{"rr_dataURL":"\#(T.png2URI)","_cssText":"\#(css)","t":"\#(T.json(T.css))"}}"#
        let sink = CollectingSink()
        var rewriter = Rewriter(options: RewriteOptions(minTreeSize: 64))
        let rewritten = try rewriter.rewrite(bytes(event)) { sink($0) }
        let linked = try Rehydrator(mode: .url(base: "https://cdn.example/")).rehydrate(rewritten, source: sink.source)
        let expected = #"{"a":{"rr_dataURL":"https://cdn.example/assets/sha256:\#(sha(T.png2).hex)","_cssText":".logo { background: url('https://cdn.example/assets/sha256:\#(sha(T.png).hex)'); }          ","t":"\#(T.json(T.css))"}}"#
        #expect(text(linked) == expected)
    }
}

@Suite struct EmbeddedDataURIEdgeTests {
    @Test func adjacentDataURIsWhoseSchemeLooksLikePayloadDoNotOverlap() throws {
        // "data" is valid base64, so the first payload's run swallows the second URI's scheme.
        let payload = Base64.encode(RewriterGoldenTests.blob(45, seed: 9))  // 60 chars; +"data" stays canonical
        let text = ")data:image/png;base64,\(payload)data:image/png;base64,\(payload)"
        try roundTrip(bytes(#"{"a":"\#(text)"}"#), options: RewriteOptions(minStringSize: 8, minEmbeddedDataURISize: 8))
    }
}

@Suite struct RecentAssetsTests {
    @Test func valuesThatShareTheSampledBytesButDifferElsewhereGetTheirOwnDigests() throws {
        // Same length, same bytes at the sampled offsets (start, quarters, end): only a full
        // comparison tells them apart.
        let a = String(repeating: "a", count: 2000)
        var b = Array(a.utf8)
        b[100] = UInt8(ascii: "b")
        let sink = CollectingSink()
        var rewriter = Rewriter()
        let first = try rewriter.rewrite(bytes(#"{"x":"\#(a)"}"#)) { sink($0) }
        let second = try rewriter.rewrite(bytes(#"{"x":"\#(text(b))"}"#)) { sink($0) }
        let third = try rewriter.rewrite(bytes(#"{"x":"\#(a)"}"#)) { sink($0) }
        #expect(first != second)
        #expect(first == third)
        #expect(sink.extracted.map(\.digest) == [sha(a), sha(b), sha(a)])
    }

    @Test func rememberingRecentValuesChangesNothingButSpeed() throws {
        for seed in UInt64(1000)..<1300 {
            let (event, options) = RandomEvent.make(seed: seed)
            var without = options
            without.recentAssetsBytes = 0
            let remembering = CollectingSink(), forgetting = CollectingSink()
            var r1 = Rewriter(options: options), r2 = Rewriter(options: without)
            // Twice each, so the second pass hits what the first remembered.
            for _ in 0..<2 {
                let a = try r1.rewrite(bytes(event)) { remembering($0) }
                let b = try r2.rewrite(bytes(event)) { forgetting($0) }
                #expect(a == b, "seed \(seed)")
            }
            #expect(remembering.extracted == forgetting.extracted, "seed \(seed): the sink hears of every asset either way")
        }
    }
}

@Suite struct ByteBoundedCacheTests {
    @Test func evictsOldestFirstAndKeepsWithinCapacity() {
        var cache = ByteBoundedCache<Int, String>(capacityBytes: 100)
        for i in 0..<10 { cache.insert("v\(i)", for: i, cost: 20) }
        #expect(cache.bytes <= 100)
        #expect(cache[0] == nil && cache[4] == nil, "the oldest went first")
        #expect((5..<10).allSatisfy { cache[$0] == "v\($0)" })
        cache.insert("big", for: 99, cost: 26)
        #expect(cache[99] == nil, "a value over a quarter of the capacity is not kept")
        cache.insert("new", for: 9, cost: 5)
        #expect(cache[9] == "new")
        #expect(cache.bytes == 85)
    }
}
