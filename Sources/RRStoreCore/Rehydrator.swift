/// Where the rehydrator gets an asset's bytes.
public protocol AssetSource {
    /// The stored bytes of the asset, or an error with code `.missingAsset`.
    func bytes(for reference: AssetReference) throws -> [UInt8]
}

/// An `AssetSource` over a dictionary, for tests and small in-memory jobs.
public struct InMemoryAssetSource: AssetSource {
    public var assets: [SHA256Digest: [UInt8]]
    public init(_ assets: [SHA256Digest: [UInt8]] = [:]) { self.assets = assets }
    public func bytes(for reference: AssetReference) throws -> [UInt8] {
        guard let bytes = assets[reference.digest] else { throw RRStoreError.missingAsset(reference) }
        return bytes
    }
}

extension RRStoreError {
    public static func missingAsset(_ reference: AssetReference) -> RRStoreError {
        RRStoreError(.missingAsset, "asset \(reference.digest) is referenced but not stored; was it uploaded (or rewritten with the same asset directory)?")
    }
}

public enum RehydrateMode: Sendable, Equatable {
    /// Every reference put back: the original bytes exactly.
    case inline
    /// Base64 data-URI assets become `<base>/assets/sha256:<hex>` URLs (inside text too);
    /// text and tree assets are put back inline. With a signer, each URL carries a
    /// signed query (see `AssetURLSigner`).
    case url(base: String, signer: AssetURLSigner? = nil)
}

/// Puts assets back: the exact inverse of `Rewriter`, or with data-URI assets as URLs.
public struct Rehydrator {
    public let mode: RehydrateMode
    public let maxDepth: Int
    /// The most bytes one value may expand to. Assets are shared and may name each other
    /// (a tree naming another twice, that one naming a third twice, ...): a few small
    /// assets can describe an exponentially large value. Past this the value is refused
    /// (`.tooLarge`) instead of exhausting memory.
    public let maxOutputBytes: Int
    private let urlPrefix: [UInt8]
    private let signer: AssetURLSigner?

    public init(mode: RehydrateMode = .inline, maxDepth: Int = 512, maxOutputBytes: Int = .max) {
        self.mode = mode
        self.maxDepth = maxDepth
        self.maxOutputBytes = maxOutputBytes
        if case .url(var base, let signer) = mode {
            while base.hasSuffix("/") { base.removeLast() }
            urlPrefix = Array((base + "/assets/").utf8)
            self.signer = signer
        } else {
            urlPrefix = []
            signer = nil
        }
    }

    /// Rehydrates one JSON value (one event; only whitespace may follow it), appending the
    /// result to `out`. On a thrown error `out` is as it was.
    public func rehydrate(_ input: UnsafeRawBufferPointer, into out: inout [UInt8], source: some AssetSource) throws {
        _ = try run(input, into: &out, source: source, depth: 0, wholeInput: true, limit: outputLimit(from: out.count))
    }

    private func outputLimit(from start: Int) -> Int {
        let (limit, overflow) = start.addingReportingOverflow(maxOutputBytes)
        return overflow ? .max : limit
    }

    /// Rehydrates the JSON value at the start of `input` and returns its length in `input`
    /// (see `EventStream`). On a thrown error `out` is as it was.
    public func rehydratePrefix(_ input: UnsafeRawBufferPointer, into out: inout [UInt8], source: some AssetSource) throws -> Int {
        try run(input, into: &out, source: source, depth: 0, wholeInput: false, limit: outputLimit(from: out.count))
    }

    public func rehydrate(_ input: [UInt8], source: some AssetSource) throws -> [UInt8] {
        var out = [UInt8]()
        try input.withUnsafeBytes { try rehydrate($0, into: &out, source: source) }
        return out
    }

    fileprivate func run<Source: AssetSource>(
        _ input: UnsafeRawBufferPointer, into out: inout [UInt8], source: Source, depth: Int, wholeInput: Bool, limit: Int
    ) throws -> Int {
        guard depth <= maxDepth else {
            throw RRStoreError(.nestingTooDeep, "tree assets nest deeper than \(maxDepth) levels")
        }
        let mark = out.count
        var visitor = RehydrateVisitor(rehydrator: self, input: input, source: source, depth: depth, limit: limit)
        swap(&visitor.out, &out)
        defer { swap(&visitor.out, &out) }
        do {
            let end: Int
            if wholeInput {
                try JSONParser.parse(input, visitor: &visitor, maxDepth: maxDepth)
                end = input.count
            } else {
                end = try JSONParser.parsePrefix(input, visitor: &visitor, maxDepth: maxDepth)
            }
            visitor.out.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[visitor.copied..<end]))
            return end
        } catch {
            visitor.out.removeLast(visitor.out.count - mark)
            throw error
        }
    }

    fileprivate func expand(_ ref: AssetReference, into out: inout [UInt8], source: some AssetSource, depth: Int, limit: Int) throws {
        try expandUnchecked(ref, into: &out, source: source, depth: depth, limit: limit)
        guard out.count <= limit else { throw tooLarge() }
    }

    private func tooLarge() -> RRStoreError {
        RRStoreError(.tooLarge, "the value expands to more than \(maxOutputBytes) bytes (its assets name each other over and over); it is refused")
    }

    private func expandUnchecked(_ ref: AssetReference, into out: inout [UInt8], source: some AssetSource, depth: Int, limit: Int) throws {
        if ref.kind == .dataURI && !urlPrefix.isEmpty {
            // A link is all URL mode writes: the bytes are not needed (nor fetched).
            out.append(UInt8(ascii: "\""))
            appendURL(ref.digest, to: &out)
            out.append(UInt8(ascii: "\""))
            return
        }
        let bytes = try source.bytes(for: ref)
        try bytes.withUnsafeBytes { bytes in
            switch ref.kind {
            case .tree:
                do {
                    _ = try run(bytes, into: &out, source: source, depth: depth + 1, wholeInput: true, limit: limit)
                } catch let error as RRStoreError where error.code == .invalidJSON || error.code == .truncatedInput {
                    throw RRStoreError(.corruptAsset, "tree asset \(ref.digest) is not valid JSON (\(error)); the asset store is damaged")
                }
            case .dataURI:
                out.append(UInt8(ascii: "\""))
                if urlPrefix.isEmpty {
                    out.append(contentsOf: DataURI.scheme)
                    out.append(contentsOf: ref.dataHeader!.utf8)
                    out.append(UInt8(ascii: ","))
                    Base64.encode(bytes, appendingTo: &out)
                } else {
                    appendURL(ref.digest, to: &out)
                }
                out.append(UInt8(ascii: "\""))
            case .text:
                out.append(UInt8(ascii: "\""))
                JSONStringCoding.appendEscaped(bytes, to: &out)
                out.append(UInt8(ascii: "\""))
            case .jsonText:
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: bytes)
                out.append(UInt8(ascii: "\""))
            case .nestedText:
                out.append(UInt8(ascii: "\""))
                try expandNested(bytes, into: &out, source: source, limit: limit)
                out.append(UInt8(ascii: "\""))
            }
        }
    }

    private func appendURL(_ digest: SHA256Digest, to out: inout [UInt8]) {
        urlPrefix.withUnsafeBytes { JSONStringCoding.appendEscaped($0, to: &out) }
        out.append(contentsOf: SHA256Digest.prefix.utf8)
        digest.appendHex(to: &out)
        if let signer { out.append(contentsOf: signer.query(for: digest).utf8) }
    }

    /// Text with embedded `data:<header>,rrasset:sha256:<hex>` payload references.
    private func expandNested(_ text: UnsafeRawBufferPointer, into out: inout [UInt8], source: some AssetSource, limit: Int) throws {
        let prefix = AssetReference.assetPrefix
        let n = text.count
        var copied = 0
        var i = 0
        var decodedText = [UInt8]()
        func flushEscaped(upTo end: Int) {
            JSONStringCoding.appendEscaped(UnsafeRawBufferPointer(rebasing: text[copied..<end]), to: &out)
        }
        while i + prefix.count + 64 <= n {
            guard text[i] == UInt8(ascii: "r"), text[i + 1] == UInt8(ascii: "r"),
                  UnsafeRawBufferPointer(rebasing: text[i..<(i + prefix.count)]).elementsEqual(prefix)
            else { i += 1; continue }
            let hexStart = i + prefix.count
            guard let digest = SHA256Digest(hexBytes: UnsafeRawBufferPointer(rebasing: text[hexStart..<(hexStart + 64)])),
                  let header = Rehydrator.embeddedHeader(in: text, commaAt: i - 1)
            else {
                throw RRStoreError(.invalidReference, "nested text asset holds a malformed embedded reference at byte \(i)")
            }
            let ref = AssetReference(digest: digest, kind: .dataURI, dataHeader: String(decoding: UnsafeRawBufferPointer(rebasing: text[header]), as: UTF8.self))
            if urlPrefix.isEmpty {
                flushEscaped(upTo: i)
                let payload = try source.bytes(for: ref)
                decodedText.removeAll(keepingCapacity: true)
                payload.withUnsafeBytes { Base64.encode($0, appendingTo: &decodedText) }
                out.append(contentsOf: decodedText)
                // One nested text may name the same large image many times: check as it grows.
                guard out.count <= limit else { throw tooLarge() }
            } else {
                flushEscaped(upTo: header.lowerBound - DataURI.scheme.count)
                appendURL(digest, to: &out)
            }
            i = hexStart + 64
            copied = i
        }
        flushEscaped(upTo: n)
    }

    /// The range of the `<media type>;base64` header whose `,` stands at `comma`.
    static func embeddedHeader(in text: UnsafeRawBufferPointer, commaAt comma: Int) -> Range<Int>? {
        guard comma > 0, text[comma] == UInt8(ascii: ",") else { return nil }
        var start = comma
        while start > 0, DataURI.headerByte[Int(text[start - 1])] { start -= 1 }
        let scheme = DataURI.scheme
        guard start >= scheme.count,
              UnsafeRawBufferPointer(rebasing: text[(start - scheme.count)..<start]).elementsEqual(scheme),
              DataURI.isValidBase64Header(UnsafeRawBufferPointer(rebasing: text[start..<comma]))
        else { return nil }
        return start..<comma
    }
}

private struct RehydrateVisitor<Source: AssetSource>: JSONVisitor {
    typealias ContainerContext = Void
    let rehydrator: Rehydrator
    let input: UnsafeRawBufferPointer
    let source: Source
    let depth: Int
    let limit: Int
    var out: [UInt8] = []
    var copied = 0

    @inline(__always)
    mutating func string(start: Int, end: Int, hasEscapes: Bool) throws {
        let content = UnsafeRawBufferPointer(rebasing: input[(start + 1)..<(end - 1)])
        guard AssetReference.looksLikeReference(content) else { return }
        let ref = try AssetReference(parsing: content)
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[copied..<start]))
        copied = end
        try rehydrator.expand(ref, into: &out, source: source, depth: depth, limit: limit)
    }
}
