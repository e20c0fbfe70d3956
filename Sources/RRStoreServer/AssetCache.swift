import RRStoreCore
import RRStoreStorage
import Synchronization

/// Recently read assets, shared by all requests: a player reading a recording asks for the
/// same stylesheet and tree assets event after event.
final class AssetCache: Sendable {
    private let cache: Mutex<ByteBoundedCache<SHA256Digest, [UInt8]>>

    init(capacityBytes: Int) {
        cache = Mutex(ByteBoundedCache(capacityBytes: capacityBytes))
    }

    func bytes(_ digest: SHA256Digest, from blobs: any BlobStore) async throws -> [UInt8] {
        if let hit = cache.withLock({ $0[digest] }) { return hit }
        let bytes: [UInt8]
        do {
            bytes = try await blobs.get(.asset(digest))
        } catch let error as RRStoreError where error.code == .blobNotFound {
            throw RRStoreError(.missingAsset, "asset \(digest) is referenced by stored events but missing from the blob store")
        }
        cache.withLock { $0.insert(bytes, for: digest, cost: bytes.count) }
        return bytes
    }
}
