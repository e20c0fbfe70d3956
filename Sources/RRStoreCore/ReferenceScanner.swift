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

    /// The digests of the `data:` payloads embedded in a nested text asset.
    public static func embeddedDigests(inNestedText text: UnsafeRawBufferPointer) -> [SHA256Digest] {
        let prefix = AssetReference.assetPrefix
        var found: [SHA256Digest] = []
        var i = 0
        while i + prefix.count + 64 <= text.count {
            guard text[i] == UInt8(ascii: "r"), text[i + 1] == UInt8(ascii: "r"),
                  UnsafeRawBufferPointer(rebasing: text[i..<(i + prefix.count)]).elementsEqual(prefix),
                  let digest = SHA256Digest(hexBytes: UnsafeRawBufferPointer(rebasing: text[(i + prefix.count)..<(i + prefix.count + 64)]))
            else { i += 1; continue }
            found.append(digest)
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
