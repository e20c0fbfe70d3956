/// The body of `POST /assets/batch`: many assets in one request, each framed by a text
/// line and followed by its bytes as they are (binary-safe, no base64, no multipart
/// boundary to search for):
///
///     sha256:<64 hex> <size in decimal> <media type, or -> LF
///     <size bytes> LF
///     … the next asset …
///
/// The server re-hashes every asset and answers for each; the items are taken in order, so
/// a tree may name an asset earlier in the same batch. Parsing is untrusted input (a fuzz
/// target covers it): every number is checked against what is left, and a malformed body
/// is one error that says where, before anything is stored. A value; no I/O.
public enum AssetBatch {
    public static let mediaType = "application/vnd.rrstore.asset-batch"
    /// A header line is at most this long (the digest, a size, a media type of ≤ 200).
    static let maxHeaderBytes = 300

    public struct Item: Equatable, Sendable {
        public var digest: SHA256Digest
        public var mediaType: String?
        /// Where the asset's bytes are in the body.
        public var range: Range<Int>
    }

    /// The items of `body`, at most `maxItems` of them, each at most `maxItemBytes`.
    public static func parse(_ body: UnsafeRawBufferPointer, maxItems: Int, maxItemBytes: Int) throws -> [Item] {
        var items: [Item] = []
        var position = 0
        while position < body.count {
            guard items.count < maxItems else {
                throw RRStoreError(.tooLarge, "a batch holds at most \(maxItems) assets; send the rest in another")
            }
            let lineEnd = body[position..<min(body.count, position + maxHeaderBytes)].firstIndex(of: 0x0A)
            guard let lineEnd else {
                throw malformed(items.count, "its header line (`sha256:<hex> <size> <media type or ->` and a newline) is missing or longer than \(maxHeaderBytes) bytes")
            }
            let fields = body[position..<lineEnd].split(separator: 0x20, omittingEmptySubsequences: false)
            guard fields.count == 3 else { throw malformed(items.count, "its header line has \(fields.count) fields, not 3") }
            guard let digest = SHA256Digest(parsing: String(decoding: fields[0], as: UTF8.self)) else {
                throw malformed(items.count, "'\(String(decoding: fields[0].prefix(80), as: UTF8.self))' is not sha256:<64 lowercase hex>")
            }
            guard let size = decimal(fields[1]) else { throw malformed(items.count, "its size is not a decimal number of at most 12 digits") }
            guard size <= maxItemBytes else {
                throw RRStoreError(.tooLarge, "asset \(items.count) (\(digest)) has \(size) bytes; a batch takes assets of at most \(maxItemBytes) (PUT /assets/{digest} takes larger ones)")
            }
            let mediaType = try self.mediaType(fields[2], item: items.count)
            let start = lineEnd + 1
            guard size < body.count - start, body[start + size] == 0x0A else {
                throw malformed(items.count, "the body ends before its \(size) bytes and the newline after them")
            }
            items.append(Item(digest: digest, mediaType: mediaType, range: start..<(start + size)))
            position = start + size + 1
        }
        return items
    }

    /// A batch of `assets` in this framing.
    public static func encode(_ assets: [(digest: SHA256Digest, bytes: [UInt8], mediaType: String?)]) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(assets.reduce(0) { $0 + $1.bytes.count + 100 })
        for asset in assets {
            let type = asset.mediaType.flatMap { isToken($0.utf8) && $0.utf8.count <= 200 ? $0 : nil } ?? "-"
            body += Array("\(asset.digest) \(asset.bytes.count) \(type)\n".utf8)
            body += asset.bytes
            body.append(0x0A)
        }
        return body
    }

    private static func malformed(_ index: Int, _ what: String) -> RRStoreError {
        RRStoreError(.invalidBatch, "asset \(index) of the batch: \(what); nothing was stored")
    }

    private static func decimal(_ digits: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard (1...12).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    private static func mediaType(_ field: Slice<UnsafeRawBufferPointer>, item: Int) throws -> String? {
        if field.elementsEqual([UInt8(ascii: "-")]) { return nil }
        guard (1...200).contains(field.count), isToken(field) else {
            throw malformed(item, "its media type is not `-` or 1-200 printable characters without spaces")
        }
        return String(decoding: field, as: UTF8.self)
    }

    private static func isToken(_ bytes: some Sequence<UInt8>) -> Bool {
        bytes.allSatisfy { (0x21...0x7E).contains($0) }
    }
}

extension RRStoreError.Code {
    public static let invalidBatch = RRStoreError.Code("invalid_batch")
}
