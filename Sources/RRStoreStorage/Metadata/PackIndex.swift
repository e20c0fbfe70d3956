import RRStoreCore

/// The metadata side of packs (store format 3): small assets staged durably until a pack
/// holds them, and the index from each packed asset's digest to where its bytes are.
///
/// The order of writes keeps every reader safe: an asset's bytes are staged (or written
/// loose) before its index row (`AssetRecord`) commits; a pack is written whole before
/// `indexPack` names it, and that transaction drops the staged copies it replaces. So an
/// asset is always staged, packed or loose, and `assetLocation` sees one of those in one
/// statement. A pack no index row names (a crash before `indexPack`, or a rival instance
/// that indexed the same digests first) is garbage for the collector, never read.
public protocol PackIndex: Sendable {
    /// Stages the assets' bytes. A digest already staged or packed is written again all
    /// the same (an upsert of the same bytes): the work, and so the answer's timing, must
    /// not tell a tenant that another one stored these bytes. The packer drops staged
    /// copies of packed assets. Answers how many rows were written and their bytes.
    func stageAssets(_ assets: [StagedAsset]) async throws -> (count: Int, bytes: Int)
    /// Where the asset's bytes are when they are not loose objects: packed, or staged.
    func assetLocation(_ digest: SHA256Digest) async throws -> AssetLocation?
    /// Tenants with staged assets due for packing: at least `minBytes` of them, or the
    /// oldest staged at or before `oldestBefore`. At most `limit`, most overdue first.
    func stagedTenants(minBytes: Int, oldestBefore: Int64, limit: Int) async throws -> [StagedSummary]
    /// A tenant's staged assets, oldest first, as many as fit in `maxBytes` (at least one),
    /// each marked `packed` if a pack holds it already.
    func stagedAssets(tenant: String, maxBytes: Int) async throws -> [StagedAsset]
    /// Drops the staged copies of these assets that a pack holds already.
    func dropStaged(packed digests: [SHA256Digest]) async throws
    /// Records a written pack and indexes its entries, dropping the staged copies, in one
    /// transaction. A digest another pack indexed first keeps that pack's row (both packs
    /// hold the same bytes). Answers how many entries were newly indexed.
    @discardableResult
    func indexPack(_ pack: PackRecord, entries: [PackEntry]) async throws -> Int
    /// The index rows that name `pack`. A scan: no index by pack is kept (it was a fifth
    /// of the embedded store's metadata on the corpus); the collector reads every row anyway.
    func packEntries(pack: String) async throws -> [PackEntry]
    /// Every pack recorded, oldest first.
    func packs() async throws -> [PackRecord]
}

/// A small asset's bytes waiting in the metadata store for a pack.
public struct StagedAsset: Sendable, Equatable {
    public var digest: SHA256Digest
    /// The tenant whose pack it goes to (the first that stored it).
    public var tenant: String
    public var bytes: [UInt8]
    /// Whether it is worth compressing together with its neighbours: not an image, font or
    /// archive (`StoredEncoding.looksCompressed`).
    public var compressible: Bool
    public var stagedAt: Int64
    /// A pack holds it already (a tenant staged bytes another had packed).
    public var packed: Bool

    public init(digest: SHA256Digest, tenant: String, bytes: [UInt8], compressible: Bool? = nil, stagedAt: Int64, packed: Bool = false) {
        self.digest = digest
        self.tenant = tenant
        self.bytes = bytes
        self.compressible = compressible ?? !bytes.withUnsafeBytes(StoredEncoding.looksCompressed)
        self.stagedAt = stagedAt
        self.packed = packed
    }
}

public struct StagedSummary: Sendable, Equatable {
    public var tenant: String
    public var count: Int
    public var bytes: Int
    public var oldestStaged: Int64
}

public struct PackRecord: Sendable, Equatable {
    public var id: String
    public var tenant: String
    public var createdAt: Int64
    public var storedBytes: Int
    public var entryCount: Int

    public init(id: String, tenant: String, createdAt: Int64, storedBytes: Int, entryCount: Int) {
        self.id = id
        self.tenant = tenant
        self.createdAt = createdAt
        self.storedBytes = storedBytes
        self.entryCount = entryCount
    }
}

public enum AssetLocation: Sendable, Equatable {
    case packed(PackEntry)
    case staged([UInt8])
}

extension MetadataSchema {
    /// Version 5 (expand): staged assets, packs and the pack index. Version 6 (contract)
    /// brings format 3: small assets are staged and packed, which format-2 binaries
    /// cannot read.
    static func packTables(_ dialect: Dialect) -> [String] {
        let digest = dialect == .sqlite ? "BLOB" : "TEXT"
        let blob = dialect == .sqlite ? "BLOB" : "BYTEA"
        return [
            """
            CREATE TABLE staged_assets (
                digest \(digest) PRIMARY KEY, tenant TEXT NOT NULL, body \(blob) NOT NULL, size BIGINT NOT NULL,
                compressible BIGINT NOT NULL, staged_at BIGINT NOT NULL)
            """,
            "CREATE INDEX staged_assets_order ON staged_assets (tenant, staged_at)",
            """
            CREATE TABLE packs (
                id TEXT PRIMARY KEY, tenant TEXT NOT NULL, created_at BIGINT NOT NULL,
                stored_bytes BIGINT NOT NULL, entry_count BIGINT NOT NULL)
            """,
            """
            CREATE TABLE pack_entries (
                digest \(digest) PRIMARY KEY, pack TEXT NOT NULL, block_offset BIGINT NOT NULL, block_length BIGINT NOT NULL,
                block_encoding TEXT NOT NULL, entry_offset BIGINT NOT NULL, entry_length BIGINT NOT NULL)\(dialect == .sqlite ? " WITHOUT ROWID" : "")
            """,
        ]
    }
}

extension BlobKey {
    /// The pack object `packs/<id>`; `id` is made by `Packer` (digits, letters, `-`).
    public static func pack(_ id: String) throws -> BlobKey {
        try BlobKey("packs/\(id)")
    }
}
