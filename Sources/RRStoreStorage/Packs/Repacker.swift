import Logging
import RRStoreCore

/// Moves a store's small loose assets (one object each, as every store before format 3
/// kept them: `assets/sha256/ab/cd/<hex>[.gz]`) into packs, a page of the listing at a
/// time: each object is read and its digest checked, the good ones are staged and packed
/// (the `Packer`, which verifies the pack before it writes it), each packed copy is read
/// back and checked, and only then is the loose object deleted.
///
/// Resumable without a checkpoint: the listing is the progress. Killed anywhere, a later
/// run finds the objects not yet deleted; ones already packed are deleted once their packed
/// copy reads back, staged ones are packed. Safe beside running servers: reads look in
/// packs before loose objects and look again when a loose object has just gone.
public struct Repacker: Sendable {
    public let blobs: any BlobStore
    public let metadata: any MetadataStore
    public let policy: PackPolicy
    let logger: Logger

    /// Packs made by repack are grouped under this name instead of a tenant's: a store
    /// from before packs does not say which tenant stored an asset first.
    public static let group = "_repack"

    public init(blobs: any BlobStore, metadata: any MetadataStore, policy: PackPolicy, logger: Logger = Logger(label: "rrstore.repack")) {
        self.blobs = blobs
        self.metadata = metadata
        self.policy = policy
        self.logger = logger
    }

    public struct Report: Sendable, Equatable {
        /// Loose asset objects listed.
        public var listed = 0
        /// Assets moved into packs (staged and packed by this run, or packed before).
        public var packed = 0
        /// Their bytes as the loose objects stored them, and as the packs keep them.
        public var looseBytes = 0
        public var packs = 0
        public var packBytes = 0
        /// Loose objects left as they are: at or over the pack threshold.
        public var large = 0
        /// Objects whose bytes do not hash to their name: left for an operator (logged).
        public var damaged: [String] = []
        public init() {}
    }

    /// Repacks every small loose asset; `progress` hears the running totals after each page.
    /// `stopAfterPages` ends early (tests of an interrupted run).
    public func run(pageSize: Int = 500, stopAfterPages: Int? = nil, progress: (Report) -> Void = { _ in }) async throws -> Report {
        guard try await metadata.storeFormat() >= 3 else {
            throw RRStoreError(.invalidConfiguration, "the store is at format \(try await metadata.storeFormat()); packs need format 3: run `rrstore migrate` first (see the README's release stages)")
        }
        var report = Report()
        var after: String?
        var pages = 0
        let assets = StoredAssets(blobs: blobs, index: metadata)
        let packer = Packer(blobs: blobs, index: metadata, policy: policy, logger: logger)
        repeat {
            let page = try await blobs.list(prefix: "assets/sha256/", after: after, limit: pageSize)
            after = page.next
            report.listed += page.blobs.count
            var moving: [(info: BlobInfo, digest: SHA256Digest)] = []
            var staging: [StagedAsset] = []
            for info in page.blobs {
                guard let (digest, encoding) = Self.looseAsset(info.key) else { continue }
                if case .packed? = try await metadata.assetLocation(digest) {
                    moving.append((info, digest))
                    continue
                }
                let stored = try await blobs.get(info.key)
                let bytes: [UInt8]
                do {
                    bytes = try AssetBlobs.decode(stored, encoding: encoding, digest: digest)
                } catch let error as RRStoreError where error.code == .corruptAsset {
                    report.damaged.append(info.key.description)
                    logger.error("repack: \(info.key) does not decompress; left as it is")
                    continue
                }
                guard bytes.count < policy.maxAssetBytes else { report.large += 1; continue }
                guard SHA256Digest.hash(bytes) == digest else {
                    report.damaged.append(info.key.description)
                    logger.error("repack: \(info.key) does not hash to its name; left as it is")
                    continue
                }
                staging.append(StagedAsset(digest: digest, tenant: Self.group, bytes: bytes, stagedAt: WallClock.millisecondsSince1970()))
                moving.append((info, digest))
            }
            _ = try await metadata.stageAssets(staging)
            let packed = try await packer.pack(tenant: Self.group, all: true)
            report.packs += packed.packs
            report.packBytes += packed.storedBytes
            // Delete a loose object only once its packed copy reads back whole.
            for (info, digest) in moving {
                guard case .packed(let entry)? = try await metadata.assetLocation(digest) else { continue }
                _ = try await assets.read(entry)
                try await blobs.delete(info.key)
                report.packed += 1
                report.looseBytes += info.size
            }
            pages += 1
            progress(report)
            if let stopAfterPages, pages >= stopAfterPages { break }
        } while after != nil
        return report
    }

    /// The digest and encoding of a loose asset's key, `assets/sha256/ab/cd/<hex>[.gz]`.
    static func looseAsset(_ key: BlobKey) -> (SHA256Digest, StoredEncoding)? {
        let parts = key.description.split(separator: "/")
        guard parts.count == 5, var name = parts.last else { return nil }
        var encoding = StoredEncoding.identity
        if name.hasSuffix(".gz") {
            name = name.dropLast(3)
            encoding = .gzip
        }
        guard name.count == 64, let digest = SHA256Digest(parsing: "sha256:" + name),
              BlobKey.asset(digest, encoding) == key else { return nil }
        return (digest, encoding)
    }
}
