import RRStoreAuth
import RRStoreCore

/// Every parser of untrusted input, each as a fuzz target: bytes in, no trap out. A
/// target may trap only where a property it checks is broken (that is the finding).
enum FuzzTargets {
    static let all: [String: @Sendable (UnsafeRawBufferPointer) -> Void] = [
        "headers": headers, "json": json, "rewrite": rewrite, "framing": framing, "gzip": gzip, "zstd": zstd,
        "jwt": jwt, "references": references, "packed": packed, "base64": base64, "pack": pack,
        "batch": batch,
    ]

    /// Header values the service acts on: media types, encodings, ranges, lengths.
    static func headers(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        _ = HeaderValues.mediaTypeEssence(text)
        _ = HeaderValues.acceptsGzip(text)
        _ = HeaderValues.servedMediaType(text)
        _ = HeaderValues.decimal(text)
        for size in [0, 1, 17, Int.max] {
            if let range = ByteRange(header: text, size: size) {
                precondition(range.range.lowerBound >= 0 && range.range.upperBound <= size && !range.range.isEmpty, "range outside the body")
            }
        }
        let served = HeaderValues.servedMediaType(text).contentType
        precondition(!served.contains("html") && !served.contains("script"), "a script-capable type is served as is")
    }

    /// The JSON scanner, the reference scanners over it, and the list row's event summary.
    static func json(_ data: UnsafeRawBufferPointer) {
        _ = try? JSONBytes.validate(data, maxDepth: 512)
        let summary = EventSummary(events: [Array(data)])
        precondition((summary.firstTimestamp == nil) == (summary.lastTimestamp == nil), "half a time span")
        precondition((summary.firstURL?.utf8.count ?? 0) <= EventSummary.maxURLBytes, "an uncut URL")
        _ = try? ReferenceScanner.references(in: data)
        _ = ReferenceScanner.embeddedReferences(inNestedText: data)
        var mentions = ReferenceMentions()
        mentions.feed(data)
        _ = mentions.expansion(ofAssetOfSize: data.count, children: mentions.counts.mapValues { _ in Int.max / 3 })
    }

    /// The lossless contract: whatever the rewriter accepts, the rehydrator gives back byte
    /// for byte; and the rehydrator never traps on what a client may send as rewritten.
    static func rewrite(_ data: UnsafeRawBufferPointer) {
        let input = Array(data)
        for keepReferences in [false, true] {
            var options = RewriteOptions(minStringSize: 16, minTreeSize: 32)
            options.keepReferences = keepReferences
            var rewriter = Rewriter(options: options)
            var assets: [SHA256Digest: [UInt8]] = [:]
            guard let rewritten = try? rewriter.rewrite(input, sink: { assets[$0.digest] = Array($0.bytes) }) else { continue }
            let source = InMemoryAssetSource(assets)
            let rehydrator = Rehydrator(maxOutputBytes: 64 << 20)
            if !keepReferences {
                let back = try? rehydrator.rehydrate(rewritten, source: source)
                precondition(back == input, "rehydrate(rewrite(x)) != x")
            } else {
                _ = try? rehydrator.rehydrate(rewritten, source: source)
            }
            _ = try? Rehydrator(mode: .url(base: "http://h"), maxOutputBytes: 64 << 20).rehydrate(rewritten, source: source)
        }
    }

    /// How a POST body is split into events: every framing the API accepts, in pieces.
    static func framing(_ data: UnsafeRawBufferPointer) {
        for isNDJSON in [false, true] {
            guard let located = try? EventBatchFraming.locate(in: data, isNDJSON: isNDJSON, recording: "r") else { continue }
            let range = located.range
            precondition(range.lowerBound >= 0 && range.upperBound <= data.count, "events range outside the body")
            precondition((located.sequence ?? 0) >= 0, "a negative envelope sequence")
            for piece in [1, 7, 4096] {
                var stream = EventStream(maxEventSize: 1 << 16)
                var total = 0
                let handler: EventStream.Handler = { remainder in
                    var visitor = ValidatingVisitor()
                    let length = try JSONParser.parsePrefix(remainder, visitor: &visitor, maxDepth: 512)
                    total += length
                    return length
                }
                let body = UnsafeRawBufferPointer(rebasing: data[range])
                var offset = 0
                do {
                    while offset < body.count {
                        let end = min(offset + piece, body.count)
                        try stream.feed(UnsafeRawBufferPointer(rebasing: body[offset..<end]), handler)
                        offset = end
                    }
                    try stream.finish(handler)
                } catch {}
                precondition(total <= body.count, "handed out more bytes than the body holds")
            }
        }
    }

    static func gzip(_ data: UnsafeRawBufferPointer) {
        for wrapper in [DeflateWrapper.gzip, .zlib] {
            _ = try? GzipDecoder.decompress(Array(data), maxOutputBytes: 1 << 20, wrapper: wrapper)
        }
        let decoder = GzipDecoder(maxOutputBytes: 1 << 20)
        var produced = 0
        _ = try? decoder.decode(data) { produced += $0.count }
        precondition(produced <= 1 << 20, "decoded past the output limit")
    }

    /// Stored zstd frames, as a damaged or hostile store could hand them back.
    static func zstd(_ data: UnsafeRawBufferPointer) {
        _ = try? Zstd.decompress(data, maxOutputBytes: 1 << 20)
        guard let decoder = try? ZstdDecoder(chunkSize: 4096, maxOutputBytes: 1 << 20) else { return }
        var produced = 0
        _ = try? decoder.decode(data) { produced += $0.count }
        precondition(produced <= 1 << 20, "decoded past the output limit")
    }

    static let secret = Array("a fuzzing secret of at least 32 bytes".utf8)

    /// Tokens as a bearer header carries them, and key sets as an IdP serves them.
    static func jwt(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        let verifier = JWTVerifier(policy: JWTPolicy(algorithms: [.hs256, .rs256, .es256], issuer: "i", audiences: ["a"]), secret: secret)
        if let token = try? UnverifiedJWT(text) {
            _ = try? verifier.algorithm(of: token)
            _ = try? verifier.verify(token, keys: [], now: 1_800_000_000)
            _ = try? verifier.checkClaims(token.claims, now: 1_800_000_000)
            _ = try? verifier.checkClaims(token.claims, now: .max)
            _ = try? verifier.checkClaims(token.claims, now: .min)
        }
        _ = try? JWKSet(json: Array(data))
        _ = try? StaticTokens(fileContents: text)
    }

    static func references(_ data: UnsafeRawBufferPointer) {
        guard AssetReference.looksLikeReference(data), let reference = try? AssetReference(parsing: data) else { return }
        precondition(Array(reference.description.utf8) == Array(data), "a reference does not print as parsed")
    }

    static func packed(_ data: UnsafeRawBufferPointer) {
        _ = PackedEvent.isPacked(data)
        _ = try? PackedEvent.unpack(data, maxBytes: 1 << 20)
        _ = try? JSONMembers.topLevel(in: data)
        _ = try? JSONMembers.elements(ofArray: data)
    }

    /// A pack object as a damaged or foreign store could hand it back: the trailer's
    /// length from its last eight bytes, then its entries, every one inside the pack. And
    /// a pack built of the input's pieces lists exactly what went in.
    static func pack(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        if bytes.count >= 8, let length = try? PackTrailer.trailerLength(lastEight: Array(bytes.suffix(8)), packSize: bytes.count, pack: "p") {
            let trailer = Array(bytes[(bytes.count - 8 - length)..<(bytes.count - 8)])
            if let entries = try? PackTrailer.entries(trailer: trailer, packSize: bytes.count, pack: "p") {
                for entry in entries {
                    precondition(entry.blockOffset + entry.blockLength <= bytes.count - 8 - length, "an entry's block outside the pack's blocks")
                }
            }
        }
        _ = try? PackTrailer.entries(trailer: bytes, packSize: Int.max / 2, pack: "p")
        var policy = PackPolicy()
        policy.blockBytes = 4096
        policy.level = 1
        var builder = PackBuilder(id: "p", policy: policy)
        for (index, piece) in bytes.split(separator: 0, omittingEmptySubsequences: true).prefix(64).enumerated() {
            try? builder.add(SHA256Digest.hash(piece), Array(piece), compressible: index % 3 != 0)
        }
        guard let (built, entries) = try? builder.finish(),
              let length = try? PackTrailer.trailerLength(lastEight: Array(built.suffix(8)), packSize: built.count, pack: "p"),
              let listed = try? PackTrailer.entries(trailer: Array(built[(built.count - 8 - length)..<(built.count - 8)]),
                                                    packSize: built.count, pack: "p")
        else { preconditionFailure("a pack as built does not parse") }
        precondition(listed == entries, "a pack's trailer does not list what was packed")
    }

    /// A batch upload's body (`POST /assets/batch`): every item lies inside the body, and
    /// what parsed encodes and parses again to the same assets.
    static func batch(_ data: UnsafeRawBufferPointer) {
        guard let items = try? AssetBatch.parse(data, maxItems: 64, maxItemBytes: 1 << 16) else { return }
        let assets = items.map { item -> (digest: SHA256Digest, bytes: [UInt8], mediaType: String?) in
            precondition(item.range.lowerBound >= 0 && item.range.upperBound <= data.count, "an item outside the body")
            return (item.digest, Array(data[item.range]), item.mediaType)
        }
        let again = AssetBatch.encode(assets)
        guard let reparsed = try? again.withUnsafeBytes({ try AssetBatch.parse($0, maxItems: 64, maxItemBytes: 1 << 16) }) else {
            preconditionFailure("an encoded batch does not parse")
        }
        precondition(reparsed.map(\.digest) == items.map(\.digest) && reparsed.map(\.mediaType) == items.map(\.mediaType)
                     && reparsed.map({ Array(again[$0.range]) }) == assets.map(\.bytes), "a batch does not round-trip")
    }

    static func base64(_ data: UnsafeRawBufferPointer) {
        guard let decoded = Base64.decodeCanonical(String(decoding: data, as: UTF8.self)) else { return }
        precondition(Array(Base64.encode(decoded).utf8) == Array(data), "canonical base64 does not round-trip")
    }
}
