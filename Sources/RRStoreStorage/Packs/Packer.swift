import Logging
import RRStoreCore
import RRStoreIO

/// Moves staged assets into packs: a tenant's staged assets, oldest first, become one
/// pack object (`PackBuilder`) written whole and create-only, verified before it is
/// written, then indexed in one transaction that drops the staged copies. Pack first,
/// index second: a crash in between leaves an unindexed pack (garbage) and the assets
/// still staged, packed again by the next pass. Several instances may pack the same
/// assets at once; the index keeps one pack's row per digest.
public struct Packer: Sendable {
    public let blobs: any BlobStore
    public let index: any PackIndex
    public let policy: PackPolicy
    let logger: Logger

    public init(blobs: any BlobStore, index: any PackIndex, policy: PackPolicy, logger: Logger = Logger(label: "rrstore.packer")) {
        self.blobs = blobs
        self.index = index
        self.policy = policy
        self.logger = logger
    }

    public struct Report: Sendable, Equatable {
        public var packs = 0
        public var assets = 0
        public var rawBytes = 0
        public var storedBytes = 0
        public init() {}

        mutating func add(_ other: Report) {
            packs += other.packs
            assets += other.assets
            rawBytes += other.rawBytes
            storedBytes += other.storedBytes
        }
    }

    /// Packs the tenants that are due (every staged asset when `all`).
    public func packDue(all: Bool, now: Int64) async throws -> Report {
        var report = Report()
        while true {
            let due = try await index.stagedTenants(minBytes: all ? 0 : policy.minBytes,
                                                    oldestBefore: all ? .max : now - Int64(policy.maxAgeSeconds * 1000), limit: 100)
            guard !due.isEmpty else { return report }
            var progressed = false
            for tenant in due {
                let packed = try await pack(tenant: tenant.tenant, all: all)
                progressed = progressed || packed.assets > 0
                report.add(packed)
            }
            guard progressed else { return report }
        }
    }

    /// Packs a tenant's staged assets, a pack of about `packBytes` at a time; unless `all`,
    /// a remainder smaller than `minBytes` waits for more (it is packed once it is old).
    public func pack(tenant: String, all: Bool = true, now: Int64? = nil) async throws -> Report {
        var report = Report()
        let oldest = (now ?? Self.now()) - Int64(policy.maxAgeSeconds * 1000)
        while true {
            let fetched = try await index.stagedAssets(tenant: tenant, maxBytes: policy.packBytes)
            guard !fetched.isEmpty else { return report }
            // Bytes staged again after a pack took them (see `stageAssets`) need no new pack.
            let packedAlready = fetched.filter(\.packed).map(\.digest)
            try await index.dropStaged(packed: packedAlready)
            let staged = fetched.filter { !$0.packed }
            guard !staged.isEmpty else { continue }
            let raw = staged.reduce(0) { $0 + $1.bytes.count }
            if !all, report.packs > 0, raw < policy.minBytes, staged[0].stagedAt > oldest { return report }
            let written = try await writePack(staged, tenant: tenant)
            // Rows that failed their hash check stay staged (logged); fetching them again
            // would loop forever.
            guard written.assets > 0 else { return report }
            report.add(written)
        }
    }

    /// Builds, verifies, writes and indexes one pack of `assets`.
    public func writePack(_ assets: [StagedAsset], tenant: String) async throws -> Report {
        let id = Self.newID(), policy = self.policy, logger = self.logger
        // Seconds of zstd at level 19: off the cooperative pool, whose few threads serve
        // every request (on two cores, packing there stalled uploads past their deadline).
        let (bytes, entries, raw) = try await BlockingIO.run { () throws -> ([UInt8], [PackEntry], Int) in
            var builder = PackBuilder(id: id, policy: policy)
            for asset in assets {
                // Staged bytes were hashed when they came in; a row damaged since is not packed.
                guard SHA256Digest.hash(asset.bytes) == asset.digest else {
                    logger.error("staged asset \(asset.digest) of \(tenant) does not hash to its digest; left staged")
                    continue
                }
                try builder.add(asset.digest, asset.bytes, compressible: asset.compressible)
            }
            let raw = builder.rawBytes
            let (bytes, entries) = try builder.finish()
            if !entries.isEmpty { try Self.verify(bytes, entries: entries) }
            return (bytes, entries, raw)
        }
        guard !entries.isEmpty else { return Report() }
        _ = try await blobs.put(try BlobKey.pack(id), bytes: bytes, expecting: BlobExpectation(size: bytes.count), createOnly: true)
        let indexed = try await index.indexPack(PackRecord(id: id, tenant: tenant, createdAt: Self.now(), storedBytes: bytes.count,
                                                           entryCount: entries.count), entries: entries)
        logger.debug("packed \(entries.count) assets of \(tenant) (\(raw) bytes) into pack \(id) (\(bytes.count) bytes; \(indexed) newly indexed)")
        var report = Report()
        report.packs = 1
        report.assets = entries.count
        report.rawBytes = raw
        report.storedBytes = bytes.count
        return report
    }

    /// Decodes every block of a pack about to be written and checks every entry's digest:
    /// a bug in the builder (or memory gone bad) never reaches the store.
    static func verify(_ pack: [UInt8], entries: [PackEntry]) throws {
        var decoded: [Int: [UInt8]] = [:]
        for entry in entries {
            let failed = RRStoreError(.corruptPack, "pack \(entry.pack) did not verify after it was built (asset \(entry.digest)); nothing was written")
            guard entry.blockOffset >= 0, entry.blockLength >= 0, entry.blockLength <= pack.count - entry.blockOffset else { throw failed }
            let stored = pack[entry.blockOffset..<(entry.blockOffset + entry.blockLength)]
            let block: ArraySlice<UInt8>
            switch entry.blockEncoding {
            case .identity:
                block = stored
            case .zstd:
                let frame = try decoded[entry.blockOffset] ?? Zstd.decompress(Array(stored), maxOutputBytes: PackBlockCache.maxBlockBytes)
                decoded[entry.blockOffset] = frame
                block = frame[...]
            }
            guard entry.offset >= 0, entry.length >= 0, entry.length <= block.count - entry.offset else { throw failed }
            let start = block.startIndex + entry.offset
            guard SHA256Digest.hash(block[start..<(start + entry.length)]) == entry.digest else { throw failed }
        }
    }

    /// Time-ordered, unique across instances: milliseconds, then 64 random bits.
    static func newID() -> String {
        let millis = String(Self.now())
        let random = (0..<2).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }
        return String(repeating: "0", count: max(0, 13 - millis.count)) + millis + "-" + random.map { String(repeating: "0", count: 8 - $0.count) + $0 }.joined()
    }

    static func now() -> Int64 { WallClock.millisecondsSince1970() }
}
