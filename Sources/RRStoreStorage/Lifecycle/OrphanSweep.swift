import RRStoreCore

/// The collector's last step: objects no metadata row names, older than the grace period
/// (younger ones may be about to be indexed: a pack is written before its rows, a chunk
/// before its manifest, an asset object before its index row). Each listing is taken
/// before the rows it is compared with, so an object indexed meanwhile is seen as named.
struct OrphanSweep: Sendable {
    let collector: GarbageCollector

    func run(cutoff: Int64, dryRun: Bool, into report: inout GCReport) async throws {
        let index = collector.index
        // Packs.
        let packObjects = try await collector.blobs.listAll(prefix: "packs/")
        let packs = Set(try await index.packs().map(\.id))
        for object in packObjects where !packs.contains(String(object.key.rawValue.dropFirst("packs/".count))) {
            try await remove(object, kind: "pack", cutoff: cutoff, dryRun: dryRun, into: &report)
        }
        // Event chunks.
        let chunkObjects = try await collector.blobs.listAll(prefix: "rrweb/recordings/").filter {
            $0.key.rawValue.hasSuffix(".jsonl.gz") || $0.key.rawValue.hasSuffix(".jsonl.zst")
        }
        var chunks = Set<String>(), after: String?
        while true {
            let page = try await index.chunkKeys(after: after, limit: 1000)
            chunks.formUnion(page)
            guard page.count == 1000, let last = page.last else { break }
            after = last
        }
        for object in chunkObjects where !chunks.contains(object.key.rawValue) {
            try await remove(object, kind: "chunk", cutoff: cutoff, dryRun: dryRun, into: &report)
        }
        try await looseAssets(cutoff: cutoff, dryRun: dryRun, into: &report)
        // Temporary files of writes a killed process left.
        let files = (collector.blobs as? FileBlobStore) ?? ((collector.blobs as? CountingBlobStore)?.inner as? FileBlobStore)
        if let files {
            let removed = try await files.removeAbandonedTemporaries(writtenBefore: cutoff, dryRun: dryRun)
            if removed.count > 0 {
                report.orphans.count += removed.count
                report.orphans.bytes += removed.bytes
                report.orphans.byKind["temporary"] = .init(count: removed.count, bytes: removed.bytes)
            }
        }
    }

    /// Loose asset objects without an index row: the listing (in digest order) is walked
    /// beside the index, a page of each at a time.
    private func looseAssets(cutoff: Int64, dryRun: Bool, into report: inout GCReport) async throws {
        var objectsAfter: String?
        var rows: [SHA256Digest] = [], rowsAfter: SHA256Digest?, rowsDone = false
        while true {
            let page = try await collector.blobs.list(prefix: "assets/sha256/", after: objectsAfter, limit: 1000)
            for object in page.blobs {
                let name = object.key.rawValue.split(separator: "/").last.map { $0.hasSuffix(".gz") ? $0.dropLast(3) : $0[...] } ?? ""
                guard let digest = SHA256Digest(parsing: "sha256:" + name) else { continue }
                // Bring the index page up to this digest.
                while !rowsDone, rows.last.map({ $0 < digest }) ?? true {
                    let next = try await collector.index.indexedAssets(after: rowsAfter, limit: 1000).map(\.digest)
                    rowsDone = next.count < 1000
                    rows = next
                    rowsAfter = next.last ?? rowsAfter
                    if next.isEmpty { break }
                }
                if !rows.contains(digest) {
                    try await remove(object, kind: "asset", cutoff: cutoff, dryRun: dryRun, into: &report)
                }
            }
            guard let next = page.next else { return }
            objectsAfter = next
        }
    }

    private func remove(_ object: BlobInfo, kind: String, cutoff: Int64, dryRun: Bool, into report: inout GCReport) async throws {
        // An object whose store gives no time is never taken for an orphan.
        guard let written = object.lastModified, written < cutoff else { return }
        report.orphans.add(kind, bytes: object.size)
        if !dryRun { try await collector.blobs.delete(object.key) }
        collector.logger.info("\(dryRun ? "would delete" : "deleted") orphaned \(kind) \(object.key) (\(object.size) bytes)")
    }
}
