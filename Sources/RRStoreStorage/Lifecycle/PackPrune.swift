import RRStoreCore
import RRStoreIO

/// The collector's pack step: packs with no live entry are forgotten and deleted; packs
/// whose live entries hold less than `GCPolicy.rewriteBelow` of their bytes are rewritten
/// with the live ones. The new pack is written, verified and indexed before the old one
/// goes, so a reader always finds each asset in one of the two, and a kill in between
/// leaves at most an unindexed pack (an orphan) or an old pack still indexed (done again
/// next time).
struct PackPrune: Sendable {
    let collector: GarbageCollector

    func run(dryRun: Bool, lease: GCLease, into report: inout GCReport) async throws {
        let index = collector.index, blobs = collector.blobs
        for pack in try await index.packLiveness() {
            if pack.liveEntries == 0 {
                report.packsDeleted += 1
                report.packBytesReclaimed += pack.pack.storedBytes
                if !dryRun, try await index.dropPackIfEmpty(pack.pack.id) {
                    try await blobs.delete(try BlobKey.pack(pack.pack.id))
                }
                continue
            }
            guard pack.liveEntries < pack.pack.entryCount else { continue }
            let total = try await rawBytes(of: pack.pack)
            guard Double(pack.liveBytes) < collector.policy.rewriteBelow * Double(total) else { continue }
            report.packsRewritten += 1
            if dryRun {
                report.packBytesReclaimed += pack.pack.storedBytes - Int(Double(pack.pack.storedBytes) * Double(pack.liveBytes) / Double(max(total, 1)))
                continue
            }
            let written = try await rewrite(pack.pack)
            report.packBytesReclaimed += pack.pack.storedBytes - written
            guard try await lease.renew() else { throw GCLease.lost }
        }
    }

    /// The raw bytes of every entry the pack's trailer lists (two ranged reads).
    private func rawBytes(of pack: PackRecord) async throws -> Int {
        let key = try BlobKey.pack(pack.id)
        guard let info = try await collector.blobs.head(key), info.size >= 8 else {
            throw RRStoreError(.corruptPack, "pack \(pack.id) is indexed but \(key) is missing or too short; run `rrstore check-storage`")
        }
        let tail = try await collector.blobs.get(key, range: (info.size - 8)..<info.size)
        let length = try PackTrailer.trailerLength(lastEight: tail, packSize: info.size, pack: pack.id)
        let trailer = try await collector.blobs.get(key, range: (info.size - 8 - length)..<(info.size - 8))
        var seen = Set<SHA256Digest>()
        return try PackTrailer.entries(trailer: trailer, packSize: info.size, pack: pack.id)
            .reduce(0) { total, entry in seen.insert(entry.digest).inserted ? total + entry.length : total }
    }

    /// Writes the live entries of `old` into a new pack, indexes it, deletes `old`;
    /// answers the new pack's stored bytes.
    private func rewrite(_ old: PackRecord) async throws -> Int {
        let index = collector.index, blobs = collector.blobs
        let assets = StoredAssets(blobs: blobs, index: index)
        var live: [(SHA256Digest, [UInt8])] = []
        for entry in try await index.packEntries(pack: old.id) {
            live.append((entry.digest, try await assets.read(entry)))
        }
        let id = Packer.newID(), policy = collector.packPolicy, toPack = live
        let (bytes, entries) = try await BlockingIO.run { () throws -> ([UInt8], [PackEntry]) in
            var builder = PackBuilder(id: id, policy: policy)
            for (digest, asset) in toPack {
                try builder.add(digest, asset, compressible: !asset.withUnsafeBytes(StoredEncoding.looksCompressed))
            }
            let (bytes, entries) = try builder.finish()
            if !entries.isEmpty { try Packer.verify(bytes, entries: entries) }
            return (bytes, entries)
        }
        if !entries.isEmpty {
            _ = try await blobs.put(try BlobKey.pack(id), bytes: bytes, expecting: BlobExpectation(size: bytes.count), createOnly: true)
            _ = try await index.movePackEntries(entries, from: old.id, to: PackRecord(id: id, tenant: old.tenant, createdAt: Packer.now(),
                                                                                      storedBytes: bytes.count, entryCount: entries.count))
        }
        await collector.hooks.afterPackRewrite()
        if try await index.dropPackIfEmpty(old.id) {
            try await blobs.delete(try BlobKey.pack(old.id))
        } else {
            collector.logger.warning("pack \(old.id) still has entries after its rewrite into \(id); kept, and rewritten again next time")
        }
        collector.logger.info("rewrote pack \(old.id) (\(old.storedBytes) bytes) into \(id) (\(bytes.count) bytes, \(entries.count) live assets)")
        return entries.isEmpty ? 0 : bytes.count
    }
}
