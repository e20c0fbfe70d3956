import RRStoreCore

/// The collector's mark: every live digest, and the index rows it left unmarked.
///
/// Memory: one set entry per live asset (about 100 bytes each: a million assets take
/// ~100 MB); the index is read a page at a time.
struct Mark: Sendable {
    let index: any LifecycleIndex
    let assets: StoredAssets
    private(set) var marked = Set<SHA256Digest>()
    /// Marked digests whose bytes are still to be read for the references they hold.
    private var toRead: [SHA256Digest] = []
    /// Index rows that may hold references, by digest (only those are read).
    private var mayReference = Set<SHA256Digest>()
    /// Index rows not touched since the cutoff, as listed.
    private var old: [SHA256Digest: IndexedAsset] = [:]

    /// Lists the roots and the index; `close()` then follows references.
    static func start(index: any LifecycleIndex, assets: StoredAssets, cutoff: Int64, pageSize: Int = 1000) async throws -> Mark {
        var mark = Mark(index: index, assets: assets)
        var after: SHA256Digest?
        while true {
            let page = try await index.indexedAssets(after: after, limit: pageSize)
            for asset in page {
                if asset.mayReference { mark.mayReference.insert(asset.digest) }
                if asset.lastTouched >= cutoff { mark.insert(asset.digest) } else { mark.old[asset.digest] = asset }
            }
            guard page.count == pageSize, let last = page.last else { break }
            after = last.digest
        }
        after = nil
        while true {
            let page = try await index.referencedDigests(after: after, limit: pageSize)
            for digest in page { mark.insert(digest) }
            guard page.count == pageSize, let last = page.last else { break }
            after = last
        }
        return mark
    }

    /// Rows the mark did not reach: the sweep's candidates.
    var candidates: [IndexedAsset] { old.values.filter { !marked.contains($0.digest) } }

    private mutating func insert(_ digest: SHA256Digest) {
        if marked.insert(digest).inserted, mayReference.contains(digest) { toRead.append(digest) }
    }

    /// Marks assets touched during the collection, with what they name.
    mutating func add(roots: [IndexedAsset]) async throws {
        for asset in roots {
            if asset.mayReference { mayReference.insert(asset.digest) }
            insert(asset.digest)
        }
    }

    /// Follows references from everything marked until nothing new is reached. An asset
    /// that may hold references but cannot be read stops the collection: what it names
    /// cannot be told live, so nothing is deleted.
    mutating func close() async throws {
        while let digest = toRead.popLast() {
            let bytes: [UInt8]
            do {
                bytes = try await assets.bytes(digest, likely: .gzip)
            } catch let error as RRStoreError where error.code == .blobNotFound || error.code == .corruptAsset {
                throw RRStoreError(.gcUnreadable, "asset \(digest) may name other assets but could not be read (\(error.message)); nothing was deleted. Repair it (upload or post it again), or delete the recordings that use it, then run gc again")
            }
            for child in bytes.withUnsafeBytes(ReferenceMentions.digests(in:)) where child != digest { insert(child) }
        }
    }
}

/// What a collection did (or, dry, would do).
public struct GCReport: Sendable, Equatable, Codable {
    public var dryRun = false
    /// Another collector held the lease: nothing was done.
    public var skipped = false
    public var marked = 0
    /// Index rows deleted, by kind.
    public var assets = KindCounts()
    /// Bytes of loose asset objects deleted.
    public var looseBytesDeleted = 0
    public var packsDeleted = 0
    public var packsRewritten = 0
    /// Stored bytes of packs deleted or replaced, less those of their rewrites.
    public var packBytesReclaimed = 0
    public var orphans = KindCounts()
    public var seconds = 0.0
    public init() {}

    public struct KindCounts: Sendable, Equatable, Codable {
        public var count = 0
        public var bytes = 0
        public var byKind: [String: Count] = [:]
        public init() {}

        public struct Count: Sendable, Equatable, Codable {
            public var count = 0
            public var bytes = 0
        }

        mutating func add(_ kind: AssetRecord.Kind, bytes: Int) { add(kind.stored, bytes: bytes) }

        mutating func add(_ kind: String, bytes: Int) {
            count += 1
            self.bytes += bytes
            byKind[kind, default: Count()].count += 1
            byKind[kind, default: Count()].bytes += bytes
        }
    }

    /// Bytes the stores give back (or would).
    public var bytesReclaimed: Int { looseBytesDeleted + packBytesReclaimed + orphans.bytes }
}
