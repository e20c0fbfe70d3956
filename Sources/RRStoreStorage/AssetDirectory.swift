import RRStoreCore

/// The offline CLI's asset directory (`rrstore rewrite --assets DIR`, `rehydrate`): the
/// service's asset layout and encoding (`AssetBlobs`: `DIR/assets/sha256/ab/cd/<hex>` or
/// `<hex>.gz`) in a filesystem blob store with batched durability, used synchronously by
/// the CLI's streaming loops. A directory written here is a valid blob directory for
/// `rrstore serve` (`--data D` with `D/blobs` = `DIR`), and the other way round.
///
/// `put` is durable after `commit()`; reads re-hash what they decompressed.
public final class AssetDirectory: AssetSource {
    public let blobs: FileBlobStore
    private var known = Set<SHA256Digest>()
    /// Rehydrating a recording asks for the same snapshot trees and stylesheets again and again.
    private var cache = ByteBoundedCache<SHA256Digest, [UInt8]>(capacityBytes: 16 << 20)

    /// The gzip level of what is compressed at rest. The service's 9 takes about three
    /// times as long as the rest of a first rewrite of the corpus (benchmarks/results/
    /// rewrite-throughput.md); 1 is cheap and still about as small as the service's for
    /// snapshot JSON, so a cold rewrite stays near its warm speed.
    public let compressionLevel: Int32

    public init(root: String, batchSize: Int = 1024, compressionLevel: Int32 = 1) throws {
        blobs = try FileBlobStore(root: root, durability: .batched(max(batchSize, 1)))
        self.compressionLevel = compressionLevel
    }

    public var root: String { blobs.root }

    /// Whether the asset is stored or waiting (remembered once seen: repeats cost no `stat`),
    /// looking under the likely encoding first.
    public func contains(_ digest: SHA256Digest, likely: @autoclosure () -> StoredEncoding = .identity) throws -> Bool {
        if known.contains(digest) { return true }
        let likely = likely()
        for encoding in [likely, likely == .gzip ? .identity : .gzip] where try blobs.info(.asset(digest, encoding)) != nil {
            known.insert(digest)
            return true
        }
        return false
    }

    /// Stores the bytes under `digest` (compressed at rest when that pays, as the service
    /// does) unless already there; returns true if it was new. The caller vouches for the
    /// digest (the rewriter just computed it). Durable after `commit()`.
    @discardableResult
    public func put(_ digest: SHA256Digest, bytes: UnsafeRawBufferPointer, likely: @autoclosure () -> StoredEncoding = .identity) throws -> Bool {
        if try contains(digest, likely: likely()) { return false }
        let (encoding, stored) = try StoredEncoding.encode(Array(bytes), level: compressionLevel)
        _ = try stored.withUnsafeBytes { try blobs.write(.asset(digest, encoding), bytes: $0, createOnly: true) }
        known.insert(digest)
        return true
    }

    public func commit() throws { try blobs.commit() }

    /// The asset's own bytes, checked against its digest; the likely encoding is tried first.
    public func get(_ digest: SHA256Digest, likely: StoredEncoding = .identity) throws -> [UInt8] {
        if let cached = cache[digest] { return cached }
        let other: StoredEncoding = likely == .gzip ? .identity : .gzip
        for encoding in [likely, other] {
            let stored: [UInt8]
            do {
                stored = try blobs.read(.asset(digest, encoding))
            } catch let error as RRStoreError where error.code == .blobNotFound {
                continue
            }
            let bytes = try AssetBlobs.decode(stored, encoding: encoding, digest: digest)
            guard SHA256Digest.hash(bytes) == digest else {
                throw RRStoreError(.corruptAsset, "asset file \(root)/\(BlobKey.asset(digest, encoding)) does not hash to its name; the store is damaged: delete the file and rewrite the recording to restore it")
            }
            cache.insert(bytes, for: digest, cost: bytes.count)
            return bytes
        }
        throw RRStoreError(.missingAsset, "asset \(digest) is not in \(root) (was the recording rewritten with another --assets directory?)")
    }

    public func bytes(for reference: AssetReference) throws -> [UInt8] {
        try get(reference.digest, likely: StoredEncoding.likely(kind: reference.kind, mediaType: reference.mediaType))
    }
}
