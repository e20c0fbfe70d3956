/// What kind of value an asset stands for, which decides how it is put back.
public enum AssetKind: String, Sendable, CaseIterable {
    /// A string value, stored as its UTF-8 text; JSON-escaped again on the way back.
    case text
    /// A string value whose escapes are not the canonical ones; stored as the raw JSON
    /// string contents (escapes and all) and put back verbatim.
    case jsonText = "json"
    /// A string value holding text (usually CSS) whose embedded base64 `data:` URIs were
    /// cut out into assets of their own; stored as UTF-8 text with embedded references.
    case nestedText = "nested"
    /// A base64 `data:` URI, stored as its decoded bytes.
    case dataURI = "data"
    /// An object or array, stored as its JSON bytes (with its own big children replaced).
    case tree
}

/// A reference: a JSON string value that stands for a value cut out into an asset.
///
/// Syntax (inside the quotes):
///
///     rrasset:sha256:<hex>                        text, JSON-escaped on the way back
///     rrasset:sha256:<hex>;json                   raw JSON string contents, put back verbatim
///     rrasset:sha256:<hex>;nested                 text with embedded data-URI references
///     rrasset:sha256:<hex>;data:<media type>;base64   base64 data: URI, stored decoded
///     rrtree:sha256:<hex>                         object or array
///
/// Inside `nested` text, each embedded base64 payload is replaced by `rrasset:sha256:<hex>`
/// right after its `data:<media type>;base64,` header, which stays in place.
///
/// Every string value that starts with `rrasset:` or `rrtree:` is a reference: the rewriter
/// extracts every original string that starts so, whatever its size, so that no original
/// value can be mistaken for one.
public struct AssetReference: Hashable, Sendable, CustomStringConvertible {
    public var digest: SHA256Digest
    public var kind: AssetKind
    /// For `.dataURI`: the header between `data:` and `,`, e.g. `image/png;base64`.
    public var dataHeader: String?

    public init(digest: SHA256Digest, kind: AssetKind, dataHeader: String? = nil) {
        precondition((kind == .dataURI) == (dataHeader != nil), "a data: reference needs its header, and only it")
        self.digest = digest
        self.kind = kind
        self.dataHeader = dataHeader
    }

    static let assetPrefix: [UInt8] = Array("rrasset:sha256:".utf8)
    static let treePrefix: [UInt8] = Array("rrtree:sha256:".utf8)
    static let assetMarker: [UInt8] = Array("rrasset:".utf8)
    static let treeMarker: [UInt8] = Array("rrtree:".utf8)

    /// The media type of a data-URI asset: the header up to its first ';', e.g. `image/png`.
    public var mediaType: String? {
        guard let dataHeader else { return nil }
        let type = dataHeader.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return type.isEmpty ? "text/plain" : type
    }

    public var description: String {
        var bytes = [UInt8]()
        append(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the reference text (without quotes).
    public func append(to out: inout [UInt8]) {
        out.append(contentsOf: kind == .tree ? AssetReference.treePrefix : AssetReference.assetPrefix)
        digest.appendHex(to: &out)
        switch kind {
        case .text, .tree: break
        case .jsonText: out.append(contentsOf: ";json".utf8)
        case .nestedText: out.append(contentsOf: ";nested".utf8)
        case .dataURI:
            out.append(contentsOf: ";data:".utf8)
            out.append(contentsOf: dataHeader!.utf8)
        }
    }

    /// Whether raw string contents start like a reference (and so must be treated as one).
    @inline(__always)
    public static func looksLikeReference(_ raw: UnsafeRawBufferPointer) -> Bool {
        guard raw.count >= 7, raw[0] == UInt8(ascii: "r"), raw[1] == UInt8(ascii: "r") else { return false }
        return raw.starts(with: assetMarker) || raw.starts(with: treeMarker)
    }

    public init(parsing text: String) throws {
        var bytes = Array(text.utf8)
        self = try bytes.withUnsafeMutableBytes { try AssetReference(parsing: UnsafeRawBufferPointer($0)) }
    }

    /// Parses raw string contents that `looksLikeReference`; anything malformed is an error,
    /// since the rewriter never leaves an original string that starts like a reference.
    public init(parsing raw: UnsafeRawBufferPointer) throws {
        func invalid() -> RRStoreError {
            let shown = String(decoding: raw.prefix(120), as: UTF8.self)
            return RRStoreError(.invalidReference, "'\(shown)' starts like an rrstore reference but is not one (expected rrasset:sha256:<64 hex>[;json|;nested|;data:<type>;base64] or rrtree:sha256:<64 hex>)")
        }
        let isTree = raw.starts(with: AssetReference.treePrefix)
        let prefixCount = isTree ? AssetReference.treePrefix.count : AssetReference.assetPrefix.count
        guard isTree || raw.starts(with: AssetReference.assetPrefix), raw.count >= prefixCount + 64,
              let digest = SHA256Digest(hexBytes: UnsafeRawBufferPointer(rebasing: raw[prefixCount..<(prefixCount + 64)]))
        else { throw invalid() }
        let suffix = UnsafeRawBufferPointer(rebasing: raw[(prefixCount + 64)...])
        if isTree {
            guard suffix.isEmpty else { throw invalid() }
            self.init(digest: digest, kind: .tree)
        } else if suffix.isEmpty {
            self.init(digest: digest, kind: .text)
        } else if suffix.elementsEqual(";json".utf8) {
            self.init(digest: digest, kind: .jsonText)
        } else if suffix.elementsEqual(";nested".utf8) {
            self.init(digest: digest, kind: .nestedText)
        } else if suffix.starts(with: ";data:".utf8) {
            let header = UnsafeRawBufferPointer(rebasing: suffix[6...])
            guard DataURI.isValidBase64Header(header) else { throw invalid() }
            self.init(digest: digest, kind: .dataURI, dataHeader: String(decoding: header, as: UTF8.self))
        } else {
            throw invalid()
        }
    }
}

/// What the rewriter hands to its asset sink: the digest, the kind and the stored bytes.
/// The bytes are only valid during the call.
public struct ExtractedAsset {
    public var reference: AssetReference
    public var bytes: UnsafeRawBufferPointer
    public var digest: SHA256Digest { reference.digest }
    public var kind: AssetKind { reference.kind }
}

enum DataURI {
    /// Bytes allowed in a `data:` header (RFC 2397 media type and parameters) that the
    /// rewriter recognises: letters, digits and `!#$&'*+-.^_`|~/;=` — no ':' or ','.
    static let headerByte: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&'*+-.^_`|~/;=".utf8 {
            table[Int(c)] = true
        }
        return table
    }()

    static let base64Suffix: [UInt8] = Array(";base64".utf8)
    static let scheme: [UInt8] = Array("data:".utf8)

    /// A header (after `data:`, before `,`) of a base64 data URI this rewriter extracts.
    static func isValidBase64Header(_ header: UnsafeRawBufferPointer) -> Bool {
        guard header.count >= base64Suffix.count, header.count <= 256 else { return false }
        for c in header where !headerByte[Int(c)] { return false }
        return UnsafeRawBufferPointer(rebasing: header[(header.count - base64Suffix.count)...]).elementsEqual(base64Suffix)
    }
}
