import RRStoreCore
import Synchronization

/// Every asset the stores keep, wherever its bytes are: packed (`PackBuilder`), staged in
/// the metadata store until a pack holds them, or one object each (large assets, and
/// every asset of a store from before packs: `AssetBlobs`). Reads look in that order and
/// verify the digest of what they decoded.
public struct StoredAssets: Sendable {
    public let blobs: any BlobStore
    public let index: any PackIndex
    public let blocks: PackBlockCache

    public init(blobs: any BlobStore, index: any PackIndex, blocks: PackBlockCache = PackBlockCache()) {
        self.blobs = blobs
        self.index = index
        self.blocks = blocks
    }

    public var loose: AssetBlobs { AssetBlobs(blobs) }

    /// The asset's bytes, checked against its digest. Throws `.blobNotFound` if it is
    /// nowhere, `.corruptAsset` (naming the pack or object) if what is kept is damaged.
    public func bytes(_ digest: SHA256Digest, likely: StoredEncoding, maxBytes: Int = 1 << 30) async throws -> [UInt8] {
        let bytes: [UInt8]
        let place: String
        switch try await index.assetLocation(digest) {
        case .packed(let entry):
            return try await read(entry)
        case .staged(let staged):
            (bytes, place) = (staged, "its staged copy in the metadata store")
        case nil:
            do {
                (bytes, place) = (try await loose.bytes(digest, likely: likely, maxBytes: maxBytes), "its object under assets/")
            } catch let error as RRStoreError where error.code == .blobNotFound {
                // `rrstore repack` may have packed it and deleted the object since the look-up.
                guard case .packed(let entry)? = try await index.assetLocation(digest) else { throw error }
                return try await read(entry)
            }
        }
        guard SHA256Digest.hash(bytes) == digest else {
            throw RRStoreError(.corruptAsset, "asset \(digest) does not hash to its name in \(place); the store is damaged: upload or post the asset again to repair it")
        }
        return bytes
    }

    /// A packed asset's bytes: its block (one ranged GET, cached), decoded, sliced, verified.
    public func read(_ entry: PackEntry) async throws -> [UInt8] {
        let key = try BlobKey.pack(entry.pack)
        // Index rows come from the metadata store; sums of damaged ones must not overflow.
        let bound = 1 << 40
        guard [entry.blockOffset, entry.blockLength, entry.offset, entry.length].allSatisfy({ $0 >= 0 && $0 < bound }) else {
            throw Self.corrupt(entry, "its index row holds offsets no pack has")
        }
        let bytes: ArraySlice<UInt8>
        switch entry.blockEncoding {
        case .identity:
            let range = (entry.blockOffset + entry.offset)..<(entry.blockOffset + entry.offset + entry.length)
            bytes = try await fetch(key, range, entry: entry)[...]
        case .zstd:
            let block = try await decodedBlock(key, entry: entry)
            guard entry.offset <= block.count, entry.length <= block.count - entry.offset else {
                throw Self.corrupt(entry, "its block decodes to \(block.count) bytes, too few for the asset at \(entry.offset)+\(entry.length)")
            }
            bytes = block[entry.offset..<(entry.offset + entry.length)]
        }
        guard bytes.count == entry.length, SHA256Digest.hash(bytes) == entry.digest else {
            throw Self.corrupt(entry, "the bytes there do not hash to the asset's digest")
        }
        return Array(bytes)
    }

    private func decodedBlock(_ key: BlobKey, entry: PackEntry) async throws -> [UInt8] {
        let cacheKey = "\(entry.pack)@\(entry.blockOffset)"
        if let hit = blocks.block(cacheKey) { return hit }
        let frame = try await fetch(key, entry.blockOffset..<(entry.blockOffset + entry.blockLength), entry: entry)
        let block: [UInt8]
        do {
            block = try Zstd.decompress(frame, maxOutputBytes: PackBlockCache.maxBlockBytes)
        } catch let error as RRStoreError {
            throw Self.corrupt(entry, "its block does not decompress (\(error.message))")
        }
        blocks.insert(block, for: cacheKey)
        return block
    }

    private func fetch(_ key: BlobKey, _ range: Range<Int>, entry: PackEntry) async throws -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = try await blobs.get(key, range: range)
        } catch let error as RRStoreError where error.code == .blobNotFound || error.code == .invalidRange {
            throw RRStoreError(.blobNotFound, "asset \(entry.digest) is indexed in pack \(entry.pack), but \(key) \(error.code == .blobNotFound ? "is missing" : "is shorter than its index says")")
        }
        guard bytes.count == range.count else {
            throw Self.corrupt(entry, "the pack ends inside the asset's block")
        }
        return bytes
    }

    static func corrupt(_ entry: PackEntry, _ what: String) -> RRStoreError {
        RRStoreError(.corruptAsset, "pack \(entry.pack) is damaged at block \(entry.blockOffset) (\(entry.blockLength) bytes, \(entry.blockEncoding.rawValue)): \(what) (asset \(entry.digest)). Run `rrstore check-storage`; posting or uploading the asset again stores a good copy")
    }

    /// Keeps the bytes of a batch of new assets: small ones staged in one metadata
    /// transaction when `packing` (the store is at format 3), the others one object each.
    /// The caller has checked every digest. Answers the bytes newly kept.
    public func store(_ assets: [(digest: SHA256Digest, bytes: [UInt8])], tenant: String, packing: Bool, policy: PackPolicy,
                      at time: Int64, concurrency: Int = 8) async throws -> (created: Int, bytes: Int) {
        let small = packing ? assets.filter { $0.bytes.count < policy.maxAssetBytes } : []
        let staged = try await index.stageAssets(small.map { StagedAsset(digest: $0.digest, tenant: tenant, bytes: $0.bytes, stagedAt: time) })
        let large = packing ? assets.filter { $0.bytes.count >= policy.maxAssetBytes } : assets
        var created = (staged.count, staged.bytes)
        let loose = self.loose
        try await forEachConcurrently(large, limit: concurrency, { asset -> Int? in
            let (outcome, stored) = try await loose.store(asset.digest, bytes: asset.bytes)
            return outcome == .created ? stored : nil
        }, collect: { if let stored = $0 { created.0 += 1; created.1 += stored } })
        return created
    }
}

/// Decoded pack blocks recently read, shared by all requests: replaying a session reads
/// its trees and stylesheets from the same few blocks.
public final class PackBlockCache: Sendable {
    /// No block decodes to more than this (a block is at most `blockBytes`, 8 MiB at the
    /// most, or one asset under the pack threshold, 16 MiB at the most); a damaged frame
    /// claiming more is an error, not an allocation.
    public static let maxBlockBytes = 16 << 20
    private let cache: Mutex<ByteBoundedCache<String, [UInt8]>>

    public init(capacityBytes: Int = 64 << 20) {
        cache = Mutex(ByteBoundedCache(capacityBytes: capacityBytes))
    }

    func block(_ key: String) -> [UInt8]? { cache.withLock { $0[key] } }
    func insert(_ block: [UInt8], for key: String) { cache.withLock { $0.insert(block, for: key, cost: block.count) } }
}
