/// Finds the references in rewritten JSON and in nested text assets, so a reader can fetch
/// every asset an event needs before rehydrating it (the rehydrator itself is synchronous).
public enum ReferenceScanner {
    /// The references in one JSON value, in order of appearance (repeats included).
    public static func references(in json: UnsafeRawBufferPointer, maxDepth: Int = 512) throws -> [AssetReference] {
        var visitor = Visitor(input: json)
        try JSONParser.parse(json, visitor: &visitor, maxDepth: maxDepth)
        return visitor.found
    }

    public static func references(in json: [UInt8], maxDepth: Int = 512) throws -> [AssetReference] {
        try json.withUnsafeBytes { try references(in: $0, maxDepth: maxDepth) }
    }

    /// The references embedded in a nested text asset, as the rehydrator reads them: each a
    /// base64 `data:` payload with its header (so a reader knows it is, say, an image and
    /// where it is likely stored). Malformed ones are left out (the rehydrator refuses them).
    public static func embeddedReferences(inNestedText text: UnsafeRawBufferPointer) -> [AssetReference] {
        let prefix = AssetReference.assetPrefix
        var found: [AssetReference] = []
        var i = 0
        while i + prefix.count + 64 <= text.count {
            guard text[i] == UInt8(ascii: "r"), text[i + 1] == UInt8(ascii: "r"),
                  UnsafeRawBufferPointer(rebasing: text[i..<(i + prefix.count)]).elementsEqual(prefix),
                  let digest = SHA256Digest(hexBytes: UnsafeRawBufferPointer(rebasing: text[(i + prefix.count)..<(i + prefix.count + 64)]))
            else { i += 1; continue }
            if let header = Rehydrator.embeddedHeader(in: text, commaAt: i - 1) {
                found.append(AssetReference(digest: digest, kind: .dataURI, dataHeader: String(decoding: UnsafeRawBufferPointer(rebasing: text[header]), as: UTF8.self)))
            }
            i += prefix.count + 64
        }
        return found
    }

    private struct Visitor: JSONVisitor {
        typealias ContainerContext = Void
        let input: UnsafeRawBufferPointer
        var found: [AssetReference] = []

        mutating func string(start: Int, end: Int, hasEscapes: Bool) throws {
            let content = UnsafeRawBufferPointer(rebasing: input[(start + 1)..<(end - 1)])
            guard AssetReference.looksLikeReference(content) else { return }
            found.append(try AssetReference(parsing: content))
        }
    }
}

/// Every digest an asset's bytes mention as a reference (`rrasset:sha256:<hex>` or
/// `rrtree:sha256:<hex>`), anywhere, fed in pieces of any size. What a tree or nested text
/// asset can make a reader fetch is among these, so a server checks them before it lets a
/// tenant upload the asset.
public struct ReferenceMentions: Sendable {
    /// How often each digest is mentioned.
    public private(set) var counts: [SHA256Digest: Int] = [:]
    public var digests: Set<SHA256Digest> { Set(counts.keys) }
    /// The end of the previous piece, where a mention may have begun.
    private var carry: [UInt8] = []
    private static let longest = AssetReference.assetPrefix.count + 64

    public init() {}

    public static func digests(in bytes: UnsafeRawBufferPointer) -> Set<SHA256Digest> {
        var scanner = ReferenceMentions()
        scanner.feed(bytes)
        return scanner.digests
    }

    /// What an asset of `size` bytes with these mentions expands to when a reader puts
    /// back every asset it names, given each named asset's own expansion: its size plus
    /// each mention's expansion, repeats counted (an upper bound: the reference text itself
    /// is counted too). Saturates at `Int.max` instead of overflowing: a chain of small
    /// assets that name each other twice doubles at every step.
    public func expansion(ofAssetOfSize size: Int, children: [SHA256Digest: Int]) -> Int {
        var total = size
        for (digest, count) in counts {
            let child = children[digest] ?? 0
            let (product, overflowed) = child.multipliedReportingOverflow(by: count)
            guard !overflowed else { return .max }
            let (sum, overflow) = total.addingReportingOverflow(product)
            guard !overflow else { return .max }
            total = sum
        }
        return total
    }

    /// Forgets the mentions of `digest` (an asset naming itself names nothing new).
    public mutating func removeMentions(of digest: SHA256Digest) {
        counts[digest] = nil
    }

    public mutating func feed(_ piece: UnsafeRawBufferPointer) {
        guard !piece.isEmpty else { return }
        if carry.isEmpty {
            scan(piece)
        } else {
            // Only the seam needs the copy: mentions that start in the carried bytes.
            let seam = carry + piece.prefix(Self.longest)
            seam.withUnsafeBytes { scan($0, startsBefore: carry.count) }
            scan(piece)
        }
        carry = Array((carry + piece.suffix(Self.longest - 1)).suffix(Self.longest - 1))
    }

    private mutating func scan(_ text: UnsafeRawBufferPointer, startsBefore limit: Int = .max) {
        let count = text.count
        let end = min(limit, count - (AssetReference.treePrefix.count + 64) + 1)
        guard end > 0, let base = text.baseAddress else { return }
        var i = 0
        // Sixteen positions at a time: a mention starts where "rr" does, which is rare.
        let r = SIMD16<UInt8>(repeating: UInt8(ascii: "r"))
        while i + 17 <= count && i < end {
            let here = base.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
            let next = base.loadUnaligned(fromByteOffset: i + 1, as: SIMD16<UInt8>.self)
            if any((here .== r) .& (next .== r)) {
                for lane in i..<min(i + 16, end) { check(text, at: lane) }
            }
            i += 16
        }
        while i < end {
            check(text, at: i)
            i += 1
        }
    }

    @inline(__always)
    private mutating func check(_ text: UnsafeRawBufferPointer, at i: Int) {
        guard text[i] == UInt8(ascii: "r"), text[i + 1] == UInt8(ascii: "r") else { return }
        for prefix in [AssetReference.assetPrefix, AssetReference.treePrefix] where i + prefix.count + 64 <= text.count {
            guard UnsafeRawBufferPointer(rebasing: text[i..<(i + prefix.count)]).elementsEqual(prefix),
                  let digest = SHA256Digest(hexBytes: UnsafeRawBufferPointer(rebasing: text[(i + prefix.count)..<(i + prefix.count + 64)]))
            else { continue }
            counts[digest, default: 0] += 1
        }
    }
}
