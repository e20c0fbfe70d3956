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

    func bytes(_ digest: SHA256Digest, likely: StoredEncoding, from assets: StoredAssets) async throws -> [UInt8] {
        if let hit = cache.withLock({ $0[digest] }) { return hit }
        let bytes: [UInt8]
        do {
            bytes = try await assets.bytes(digest, likely: likely)
        } catch let error as RRStoreError where error.code == .blobNotFound {
            throw RRStoreError(.missingAsset, "asset \(digest) is referenced by stored events but missing from the blob store")
        }
        cache.withLock { $0.insert(bytes, for: digest, cost: bytes.count) }
        return bytes
    }
}

/// Which tenant may read which asset, remembered for a minute: a player fetching the same
/// images over and over costs no metadata query each time. Short-lived, because links can
/// go away (garbage collection, another instance).
final class LinkCache: Sendable {
    private struct Entry {
        var record: AssetRecord
        var expires: ContinuousClock.Instant
    }
    private let entries: Mutex<ByteBoundedCache<String, Entry>>
    private let lifetime: Duration

    init(capacityBytes: Int = 4 << 20, lifetime: Duration = .seconds(60)) {
        entries = Mutex(ByteBoundedCache(capacityBytes: capacityBytes))
        self.lifetime = lifetime
    }

    func linkedAsset(tenant: String, digest: SHA256Digest, from metadata: any MetadataStore) async throws -> AssetRecord? {
        let key = "\(tenant)\u{0}\(digest)"
        let now = ContinuousClock.now
        if let hit = entries.withLock({ $0[key] }), hit.expires > now { return hit.record }
        guard let record = try await metadata.linkedAsset(tenant: tenant, digest: digest) else { return nil }
        entries.withLock { $0.insert(Entry(record: record, expires: now + lifetime), for: key, cost: key.utf8.count + 128) }
        return record
    }
}
