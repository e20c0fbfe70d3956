import RRStoreCore
import RRStoreIO

/// The in-memory twin of the blob stores, for unit tests only.
public actor InMemoryBlobStore: BlobStore {
    private var blobs: [BlobKey: [UInt8]] = [:]

    public init() {}

    public func put(_ key: BlobKey, bytes: [UInt8], expecting: BlobExpectation?, createOnly: Bool) throws -> PutOutcome {
        if let expecting { try expecting.check(digest: SHA256Digest.hash(bytes), size: bytes.count, key: key) }
        if createOnly && blobs[key] != nil { return .alreadyExisted }
        blobs[key] = bytes
        return .created
    }

    public func putFile(_ key: BlobKey, path: String, expecting: BlobExpectation?, createOnly: Bool) throws -> PutOutcome {
        try put(key, bytes: try FileSystem.readAll(path), expecting: expecting, createOnly: createOnly)
    }

    public func get(_ key: BlobKey, range: Range<Int>?) throws -> [UInt8] {
        guard let bytes = blobs[key] else { throw RRStoreError.notFound(key) }
        return Array(bytes[try clamp(range, size: bytes.count, key: key)])
    }

    public func download(_ key: BlobKey, to path: String) throws -> BlobInfo {
        let bytes = try get(key, range: nil)
        try bytes.withUnsafeBytes { try FileSystem.writeAtomically($0, to: path) }
        return BlobInfo(key: key, size: bytes.count)
    }

    public func head(_ key: BlobKey) -> BlobInfo? {
        blobs[key].map { BlobInfo(key: key, size: $0.count, etag: "\"\(SHA256Digest.hash($0).hex)\"") }
    }

    public func delete(_ key: BlobKey) {
        blobs[key] = nil
    }

    public func list(prefix: String, after: String?, limit: Int) -> BlobPage {
        let keys = blobs.keys.filter { $0.rawValue.hasPrefix(prefix) && (after == nil || Array($0.rawValue.utf8).lexicographicallyPrecedes(Array(after!.utf8)) == false && $0.rawValue != after) }.sorted()
        let page = keys.prefix(max(limit, 1))
        let next = keys.count > page.count ? page.last?.rawValue : nil
        return BlobPage(blobs: page.map { BlobInfo(key: $0, size: blobs[$0]!.count) }, next: next)
    }
}
