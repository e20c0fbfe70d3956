public struct RewriteOptions: Sendable, Equatable {
    /// String values at least this long (raw bytes between the quotes) become assets.
    public var minStringSize: Int = 1024
    /// Objects and arrays at least this long, measured after their own children were
    /// replaced, become tree assets. The event itself (the outermost value) never does.
    public var minTreeSize: Int = 4096
    /// Base64 `data:` URIs inside text at least this long are cut out of it.
    public var minEmbeddedDataURISize: Int = 1024
    /// Deeper JSON is rejected.
    public var maxDepth: Int = 512
    /// Memory for recognising repeats, in bytes for each of two caches: recently extracted
    /// values (named again without hashing) and recently parsed subtrees (stepped over
    /// without parsing, see `RepeatedTrees`). 0 turns both off; the output is the same.
    public var recentAssetsBytes: Int = 32 << 20
    /// Whether well-formed references in the input stay as they are (listed in
    /// `Rewriter.keptReferences`) instead of being extracted as text: for events a client
    /// already rewrote. Off for raw events, where a look-alike string is data.
    public var keepReferences: Bool = false

    public init(minStringSize: Int = 1024, minTreeSize: Int = 4096, minEmbeddedDataURISize: Int = 1024,
                maxDepth: Int = 512, recentAssetsBytes: Int = 32 << 20, keepReferences: Bool = false) {
        self.keepReferences = keepReferences
        self.minStringSize = max(minStringSize, 1)
        self.minTreeSize = max(minTreeSize, 2)
        self.minEmbeddedDataURISize = max(minEmbeddedDataURISize, 1)
        self.maxDepth = maxDepth
        self.recentAssetsBytes = max(recentAssetsBytes, 0)
    }
}

/// Cuts large values out of one event and leaves references in their place, in one pass
/// over the event's bytes.
///
/// Every byte that is not replaced is copied as it is, so key order, number spelling,
/// escapes and whitespace survive. Values are replaced bottom-up: when a container closes,
/// its children were already replaced, so its size and digest are those of its rewritten
/// bytes (a Merkle tree: an unchanged subtree keeps its digest wherever it appears).
///
/// Output is appended to the caller's buffer lazily: bytes are copied only when a
/// replacement needs them in place, so long runs are copied with one `memcpy`.
public struct Rewriter {
    public let options: RewriteOptions
    /// Decoded base64 (the first `decodedCount` bytes); grows, never shrinks.
    private var decoded: [UInt8] = []
    private var decodedCount = 0
    private var unescaped: [UInt8] = []
    private var nested: [UInt8] = []
    fileprivate var recent: RecentAssets
    fileprivate var repeats: RepeatedTrees
    /// With `keepReferences`: the references the last rewritten event already held.
    public fileprivate(set) var keptReferences: [AssetReference] = []
    /// Subtrees recognised as byte-for-byte repeats and stepped over without parsing, and
    /// their input bytes, so far (attempts on an incomplete buffer included).
    public var repeatsSkipped: (trees: Int, bytes: Int) { (repeats.replays, repeats.replayedBytes) }
    /// Probes for repeats given up because too many candidates were compared in vain.
    public var repeatProbesRefused: Int { repeats.probesRefused }

    public init(options: RewriteOptions = RewriteOptions()) {
        self.options = options
        self.recent = RecentAssets(capacityBytes: options.recentAssetsBytes)
        // Kept references would have to be replayed too; client-rewritten events are small.
        self.repeats = RepeatedTrees(capacityBytes: options.keepReferences ? 0 : options.recentAssetsBytes)
    }

    /// Rewrites the JSON value in `input` (one event; only whitespace may follow it),
    /// appending the result to `out` and handing each extracted asset to `sink` (its bytes
    /// are valid only during the call). On a thrown error `out` is as it was.
    public mutating func rewrite(
        _ input: UnsafeRawBufferPointer,
        into out: inout [UInt8],
        sink: (ExtractedAsset) throws -> Void
    ) throws {
        _ = try run(input, into: &out, sink: sink, wholeInput: true)
    }

    /// Rewrites the JSON value at the start of `input` and returns its length in `input`;
    /// what follows it is left alone (see `EventStream`). Throws `.truncatedInput` if the
    /// value does not end within `input`. On a thrown error `out` is as it was.
    public mutating func rewritePrefix(
        _ input: UnsafeRawBufferPointer,
        into out: inout [UInt8],
        sink: (ExtractedAsset) throws -> Void
    ) throws -> Int {
        try run(input, into: &out, sink: sink, wholeInput: false)
    }

    /// Convenience for tests and small inputs.
    public mutating func rewrite(_ input: [UInt8], sink: (ExtractedAsset) throws -> Void) throws -> [UInt8] {
        var out = [UInt8]()
        try input.withUnsafeBytes { try rewrite($0, into: &out, sink: sink) }
        return out
    }

    private mutating func run(
        _ input: UnsafeRawBufferPointer, into out: inout [UInt8],
        sink: (ExtractedAsset) throws -> Void, wholeInput: Bool
    ) throws -> Int {
        let mark = out.count
        keptReferences.removeAll(keepingCapacity: true)
        repeats.beginEvent()
        return try withoutActuallyEscaping(sink) { sink in
            // The visitor borrows the output and the scratch buffers for the walk (O(1) swaps).
            var visitor = RewriteVisitor(input: input, options: options, sink: sink)
            swap(&visitor.out, &out)
            swap(&visitor.rewriter, &self)
            defer {
                swap(&visitor.out, &out)
                swap(&visitor.rewriter, &self)
            }
            do {
                let end: Int
                if wholeInput {
                    try JSONParser.parse(input, visitor: &visitor, maxDepth: options.maxDepth)
                    end = input.count
                } else {
                    end = try JSONParser.parsePrefix(input, visitor: &visitor, maxDepth: options.maxDepth)
                }
                visitor.flush(upTo: end)
                visitor.rewriter.repeats.addEvent(UnsafeRawBufferPointer(rebasing: input[..<end]))
                return end
            } catch {
                visitor.out.removeLast(visitor.out.count - mark)
                throw error
            }
        }
    }

    @inline(__always)
    fileprivate static func appendQuoted(_ ref: AssetReference, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        ref.append(to: &out)
        out.append(UInt8(ascii: "\""))
    }

    fileprivate mutating func extractString(
        _ content: UnsafeRawBufferPointer, hasEscapes: Bool, sink: (ExtractedAsset) throws -> Void
    ) throws -> AssetReference {
        if let hit = recent.lookup(.string, content) {
            let stored = hit.stored ?? hit.raw
            try stored.withUnsafeBytes { try sink(ExtractedAsset(reference: hit.reference, bytes: $0)) }
            repeats.logAsset(hit.reference, bytes: stored)
            return hit.reference
        }
        guard recent.capacityBytes > 0 else { return try extractNewString(content, hasEscapes: hasEscapes, sink: sink) }
        // Remember the value if it became exactly one asset (nested text brings others along).
        var emitted: [(reference: AssetReference, bytes: [UInt8], isContent: Bool)] = []
        let ref = try extractNewString(content, hasEscapes: hasEscapes) { asset in
            try sink(asset)
            emitted.append((asset.reference, Array(asset.bytes), asset.bytes.elementsEqual(content)))
        }
        for asset in emitted { repeats.logAsset(asset.reference, bytes: asset.bytes) }
        if emitted.count == 1 {
            let only = emitted[0]
            recent.insert(.string, raw: only.isContent ? only.bytes : Array(content), stored: only.isContent ? nil : only.bytes, reference: ref)
        }
        return ref
    }

    private mutating func extractNewString(
        _ content: UnsafeRawBufferPointer, hasEscapes: Bool, sink: (ExtractedAsset) throws -> Void
    ) throws -> AssetReference {
        if !hasEscapes, let ref = try extractDataURI(content, sink: sink) { return ref }
        if hasEscapes && !JSONStringCoding.unescapeCanonical(content, into: &unescaped) {
            return try emit(content, kind: .jsonText, sink: sink)
        }
        if hasEscapes {
            return try unescaped.withUnsafeBytes { try extractText($0, sink: sink) }
        }
        return try extractText(content, sink: sink)
    }

    /// A whole-value base64 `data:` URI, stored as its decoded bytes; nil if `content` is
    /// not one this rewriter can put back exactly.
    private mutating func extractDataURI(_ content: UnsafeRawBufferPointer, sink: (ExtractedAsset) throws -> Void) throws -> AssetReference? {
        guard content.starts(with: DataURI.scheme) else { return nil }
        let headerEnd = min(content.count, DataURI.scheme.count + 257)
        guard let comma = content[DataURI.scheme.count..<headerEnd].firstIndex(of: UInt8(ascii: ",")) else { return nil }
        let header = UnsafeRawBufferPointer(rebasing: content[DataURI.scheme.count..<comma])
        guard DataURI.isValidBase64Header(header) else { return nil }
        let payload = UnsafeRawBufferPointer(rebasing: content[(comma + 1)...])
        guard payload.count > 0, let digest = decodeAndHash(payload) else { return nil }
        let ref = AssetReference(digest: digest, kind: .dataURI, dataHeader: String(decoding: header, as: UTF8.self))
        try withDecoded { try sink(ExtractedAsset(reference: ref, bytes: $0)) }
        return ref
    }

    private func withDecoded<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try decoded.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<decodedCount])) }
    }

    /// Decodes canonical base64 into `decoded` and returns its digest.
    private mutating func decodeAndHash(_ payload: UnsafeRawBufferPointer) -> SHA256Digest? {
        let capacity = payload.count / 4 * 3
        if decoded.count < capacity { decoded = [UInt8](repeating: 0, count: max(capacity, decoded.count * 2)) }
        guard let count = decoded.withUnsafeMutableBytes({ Base64.decodeCanonical(payload, into: $0) }) else { return nil }
        decodedCount = count
        return withDecoded { SHA256Digest.hash($0) }
    }

    /// Text (already unescaped): cut out embedded data URIs if there are any worth it,
    /// then store it.
    private mutating func extractText(_ text: UnsafeRawBufferPointer, sink: (ExtractedAsset) throws -> Void) throws -> AssetReference {
        if try cutEmbeddedDataURIs(text, sink: sink) {
            return try nested.withUnsafeBytes { try emit($0, kind: .nestedText, sink: sink) }
        }
        return try emit(text, kind: .text, sink: sink)
    }

    private func emit(_ bytes: UnsafeRawBufferPointer, kind: AssetKind, sink: (ExtractedAsset) throws -> Void) throws -> AssetReference {
        let ref = AssetReference(digest: SHA256Digest.hash(bytes), kind: kind)
        try sink(ExtractedAsset(reference: ref, bytes: bytes))
        return ref
    }

    /// Writes `text` with each large embedded base64 payload replaced by
    /// `rrasset:sha256:<hex>` to `nested`; returns false (and leaves `nested` unspecified)
    /// when nothing was cut. Text that already holds `rrasset:` is never cut, so every
    /// embedded reference in stored nested text is genuine.
    private mutating func cutEmbeddedDataURIs(_ text: UnsafeRawBufferPointer, sink: (ExtractedAsset) throws -> Void) throws -> Bool {
        let minPayload = options.minEmbeddedDataURISize
        guard text.count >= minPayload, let base = text.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        let n = text.count
        let marker = DataURI.base64Suffix  // ";base64"
        var copied = 0
        var cut = false
        var i = marker.count
        while i < n {
            // Find ",", then check that ";base64" stands before it and "data:<header>" before that.
            guard base[i] == UInt8(ascii: ","), base[i - 1] == UInt8(ascii: "4"),
                  UnsafeRawBufferPointer(start: base + i - marker.count, count: marker.count).elementsEqual(marker)
            else { i += 1; continue }
            var headerStart = i - marker.count
            while headerStart > 0, DataURI.headerByte[Int(base[headerStart - 1])], i - headerStart < 256 { headerStart -= 1 }
            let schemeStart = headerStart - DataURI.scheme.count
            // schemeStart >= copied: a payload cut before may have swallowed this "data"
            // (its letters are base64 too); cuts must never overlap.
            guard schemeStart >= copied,
                  UnsafeRawBufferPointer(start: base + schemeStart, count: DataURI.scheme.count).elementsEqual(DataURI.scheme)
            else { i += 1; continue }
            var payloadEnd = i + 1
            while payloadEnd < n, Base64.isAlphabetByte(base[payloadEnd]) { payloadEnd += 1 }
            var padding = 0
            while payloadEnd < n, padding < 2, base[payloadEnd] == UInt8(ascii: "=") { payloadEnd += 1; padding += 1 }
            let payload = UnsafeRawBufferPointer(start: base + i + 1, count: payloadEnd - i - 1)
            guard payload.count >= minPayload, let digest = decodeAndHash(payload) else { i = payloadEnd; continue }
            if !cut {
                if AssetReference.containsAssetMarker(text) { return false }
                nested.removeAll(keepingCapacity: true)
                cut = true
            }
            let header = UnsafeRawBufferPointer(start: base + headerStart, count: i - headerStart)
            let ref = AssetReference(digest: digest, kind: .dataURI, dataHeader: String(decoding: header, as: UTF8.self))
            try withDecoded { try sink(ExtractedAsset(reference: ref, bytes: $0)) }
            nested.append(contentsOf: UnsafeRawBufferPointer(start: base + copied, count: i + 1 - copied))
            nested.append(contentsOf: AssetReference.assetPrefix)
            digest.appendHex(to: &nested)
            copied = payloadEnd
            i = payloadEnd
        }
        guard cut else { return false }
        nested.append(contentsOf: UnsafeRawBufferPointer(start: base + copied, count: n - copied))
        return true
    }
}

extension AssetReference {
    /// Whether `rrasset:` occurs anywhere in `text`.
    static func containsAssetMarker(_ text: UnsafeRawBufferPointer) -> Bool {
        let marker = assetMarker
        guard text.count >= marker.count else { return false }
        var i = 0
        let last = text.count - marker.count
        while i <= last {
            if text[i] == UInt8(ascii: "r"), text[i + 1] == UInt8(ascii: "r"),
               UnsafeRawBufferPointer(rebasing: text[i..<(i + marker.count)]).elementsEqual(marker) {
                return true
            }
            i += 1
        }
        return false
    }
}

/// The rewriter's walk over one value: decides at each string and each closing container
/// whether it becomes an asset.
private struct RewriteVisitor: JSONVisitor {
    struct ContainerContext {
        /// The output offset the container starts at (counting bytes not yet copied).
        var outStart: Int
        /// Where the assets found inside it begin in the event's log.
        var logStart: Int
        var replaysBefore: Int
    }

    let input: UnsafeRawBufferPointer
    let minStringSize: Int
    let minTreeSize: Int
    let keepReferences: Bool
    let sink: (ExtractedAsset) throws -> Void
    var out: [UInt8] = []
    var rewriter: Rewriter
    /// Input bytes before this offset are in `out` (or replaced).
    var copied = 0

    init(input: UnsafeRawBufferPointer, options: RewriteOptions, sink: @escaping (ExtractedAsset) throws -> Void) {
        self.input = input
        self.minStringSize = options.minStringSize
        self.minTreeSize = options.minTreeSize
        self.keepReferences = options.keepReferences
        self.sink = sink
        self.rewriter = Rewriter(options: options)
    }

    @inline(__always)
    mutating func flush(upTo end: Int) {
        if end > copied {
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[copied..<end]))
            copied = end
        }
    }

    @inline(__always)
    mutating func beginContainer(at offset: Int, isObject: Bool) -> ContainerContext {
        ContainerContext(outStart: out.count + (offset - copied), logStart: rewriter.repeats.log.count,
                         replaysBefore: rewriter.repeats.replays)
    }

    @inline(__always)
    mutating func endContainer(_ context: ContainerContext, start: Int, end: Int, isObject: Bool, depth: Int) throws {
        // The event itself stays an object, so its type and timestamp stay readable.
        guard depth > 0, out.count + (end - copied) - context.outStart >= minTreeSize else { return }
        try extractTree(context, start: start, end: end, depth: depth)
    }

    private mutating func extractTree(_ context: ContainerContext, start: Int, end: Int, depth: Int) throws {
        flush(upTo: end)
        let outStart = context.outStart
        let (ref, kept) = try out.withUnsafeBytes { buffer -> (AssetReference, [UInt8]?) in
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[outStart...])
            if let hit = rewriter.recent.lookup(.tree, bytes) {
                try sink(ExtractedAsset(reference: hit.reference, bytes: bytes))
                return (hit.reference, hit.raw)
            }
            let ref = AssetReference(digest: SHA256Digest.hash(bytes), kind: .tree)
            try sink(ExtractedAsset(reference: ref, bytes: bytes))
            guard rewriter.recent.capacityBytes > 0 else { return (ref, nil) }
            let copy = Array(bytes)
            rewriter.recent.insert(.tree, raw: copy, stored: nil, reference: ref)
            return (ref, copy)
        }
        if let kept {
            rewriter.repeats.logTree(ref, bytes: kept, start: start, end: end, depth: depth,
                                     logStart: context.logStart, replaysBefore: context.replaysBefore)
        }
        out.removeLast(out.count - outStart)
        Rewriter.appendQuoted(ref, to: &out)
    }

    @inline(__always)
    mutating func knownContainer(at start: Int, depth: Int) throws -> Int? {
        guard depth > 0, rewriter.repeats.isEnabled,
              let hit = rewriter.repeats.find(input, at: start, depth: depth) else { return nil }
        return try replay(hit, at: start)
    }

    /// Hands over again what parsing these bytes handed over the first time, and leaves
    /// the tree's reference in their place.
    private mutating func replay(_ hit: RepeatedTrees.Hit, at start: Int) throws -> Int {
        flush(upTo: start)
        for asset in hit.assets {
            try asset.bytes.withUnsafeBytes { try sink(ExtractedAsset(reference: asset.reference, bytes: $0)) }
        }
        rewriter.repeats.logReplay(hit)
        copied = start + hit.count
        Rewriter.appendQuoted(hit.assets.last!.reference, to: &out)
        return copied
    }

    @inline(__always)
    mutating func string(start: Int, end: Int, hasEscapes: Bool) throws {
        let content = UnsafeRawBufferPointer(rebasing: input[(start + 1)..<(end - 1)])
        let looksLikeReference = AssetReference.looksLikeReference(content)
        guard content.count >= minStringSize || looksLikeReference else { return }
        if keepReferences, looksLikeReference, !hasEscapes, let kept = try? AssetReference(parsing: content) {
            rewriter.keptReferences.append(kept)
            return
        }
        flush(upTo: start)
        copied = end
        let ref = try rewriter.extractString(content, hasEscapes: hasEscapes, sink: sink)
        Rewriter.appendQuoted(ref, to: &out)
    }
}
