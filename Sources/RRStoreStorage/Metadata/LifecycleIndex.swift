import RRStoreCore

/// The metadata side of garbage collection, retention and usage (`GarbageCollector`).
///
/// The collector's safety rests on one rule, kept by every path that tells a client an
/// asset is there (a have-set hit, an upload of a held asset, an event batch naming it, an
/// ingest that finds it stored): that path *touches* the asset's index row (moves
/// `lastTouched` forward, at most `touchResolution` late) in a transaction that
/// `sweepAssets` is serialized with. The sweep deletes a row only if it was not touched
/// within the grace period, and only if no asset touched since the mark began is missing
/// from the mark; so a touch either lands before the sweep's transaction (the sweep sees
/// it, and the collector marks what the touched asset names) or after it (the asset is
/// gone, and the client is told to send it again).
public protocol LifecycleIndex: Sendable {
    /// Moves `lastTouched` of the indexed assets among `digests` to `time`, unless it is
    /// within `resolution` milliseconds of it already (so a busy have-set writes an asset's
    /// row once a minute, not on every query); answers which of them are indexed, as of
    /// the touch.
    func touchAssets(_ digests: [SHA256Digest], at time: Int64, resolution: Int64) async throws -> Set<SHA256Digest>

    /// Digests that recordings reference (any tenant's events, or screenshots), each once,
    /// in digest order after `after`: the roots of the mark.
    func referencedDigests(after: SHA256Digest?, limit: Int) async throws -> [SHA256Digest]
    /// Index rows in digest order after `after`.
    func indexedAssets(after: SHA256Digest?, limit: Int) async throws -> [IndexedAsset]
    /// Index rows touched at or after `time`.
    func assetsTouched(since time: Int64) async throws -> [IndexedAsset]
    /// In one transaction serialized with every touch: unless an asset touched at or after
    /// `guardSince` is missing from `marked` (then nothing is deleted and those assets are
    /// answered, for the caller to mark and try again), deletes the index rows among
    /// `digests` that were last touched before `cutoff` and that no recording references,
    /// with their pack entries, staged copies and tenant links.
    func sweepAssets(_ digests: [SHA256Digest], touchedBefore cutoff: Int64, guardSince: Int64,
                     marked: Set<SHA256Digest>) async throws -> SweepOutcome

    /// Each pack with how many of its entries are still indexed and their raw bytes.
    func packLiveness() async throws -> [PackLiveness]
    /// Points the index rows of `entries` that still name `oldPack` at the rewritten pack,
    /// recording it, in one transaction; answers how many moved.
    func movePackEntries(_ entries: [PackEntry], from oldPack: String, to newPack: PackRecord) async throws -> Int
    /// Forgets the pack if no index row names it; answers whether it did.
    func dropPackIfEmpty(_ id: String) async throws -> Bool
    /// Every event chunk's blob key, in key order after `after`.
    func chunkKeys(after: String?, limit: Int) async throws -> [String]

    /// Takes or renews the lease `name` for `holder` until `now + seconds`; false if another
    /// holder's lease has not expired.
    func acquireLease(_ name: String, holder: String, now: Int64, seconds: Int) async throws -> Bool
    func releaseLease(_ name: String, holder: String) async throws

    /// Recordings created before `time`, oldest first: of `tenant`, or of every tenant but
    /// those in `except` when `tenant` is nil.
    func recordings(createdBefore time: Int64, tenant: String?, except: Set<String>, limit: Int) async throws -> [RecordingRecord]

    /// What one tenant stores (`GET /usage`), counted from its own rows only.
    func usage(tenant: String) async throws -> TenantUsage

    /// The assets one recording's events name, largest first, each with how many of the
    /// tenant's recordings name it (`GET /recordings/{id}/storage`); other tenants' never count.
    func recordingAssets(tenant: String, recording: String) async throws -> [RecordingAsset]
}

public struct RecordingAsset: Sendable, Equatable {
    public var digest: SHA256Digest
    public var kind: AssetRecord.Kind
    /// Raw bytes (as recorded).
    public var size: Int
    /// The tenant's recordings naming it, this one included.
    public var recordings: Int
    public init(digest: SHA256Digest, kind: AssetRecord.Kind, size: Int, recordings: Int) {
        (self.digest, self.kind, self.size, self.recordings) = (digest, kind, size, recordings)
    }
}

/// At most this late is a touch by default (milliseconds): servers skip touching a row
/// touched this recently, and the collector adds it to the grace period.
public let defaultTouchResolution: Int64 = 60_000

public struct IndexedAsset: Sendable, Equatable {
    public var digest: SHA256Digest
    public var size: Int
    public var kind: AssetRecord.Kind
    public var lastTouched: Int64
    /// Whether its bytes may name other assets (trees, nested text): its expansion is
    /// larger than its size, or unknown (rows from before expansions were kept).
    public var mayReference: Bool

    public init(digest: SHA256Digest, size: Int, kind: AssetRecord.Kind, lastTouched: Int64, mayReference: Bool) {
        self.digest = digest
        self.size = size
        self.kind = kind
        self.lastTouched = lastTouched
        self.mayReference = mayReference
    }
}

public enum SweepOutcome: Sendable, Equatable {
    case deleted([DeletedAsset])
    /// Assets touched since the mark that it does not hold: nothing was deleted.
    case touchedSinceMark([IndexedAsset])
}

public struct DeletedAsset: Sendable, Equatable {
    public var digest: SHA256Digest
    public var size: Int
    public var kind: AssetRecord.Kind
    /// The pack that held it, if it was packed (its bytes go when the pack is rewritten).
    public var pack: String?
    /// Whether its bytes were staged in the metadata store (deleted with the row).
    public var staged: Bool

    public init(digest: SHA256Digest, size: Int, kind: AssetRecord.Kind, pack: String?, staged: Bool) {
        self.digest = digest
        self.size = size
        self.kind = kind
        self.pack = pack
        self.staged = staged
    }
}

public struct PackLiveness: Sendable, Equatable {
    public var pack: PackRecord
    public var liveEntries: Int
    public var liveBytes: Int
    public init(pack: PackRecord, liveEntries: Int, liveBytes: Int) {
        self.pack = pack
        self.liveEntries = liveEntries
        self.liveBytes = liveBytes
    }
}

public struct TenantUsage: Sendable, Equatable, Codable {
    public var recordings = 0
    public var events = 0
    /// Event bytes received (as recorded, before assets were cut out).
    public var rawBytes = 0
    /// Bytes of the event chunks flushed for its recordings.
    public var chunkBytes = 0
    /// The distinct assets its recordings reference, and their bytes (each counted once).
    public var assets = 0
    public var assetBytes = 0
    /// Of those, the bytes referenced by more than one of its recordings.
    public var sharedAssetBytes = 0
    public init() {}
}

extension MetadataSchema {
    /// Version 7 (expand): what the collector and retention query by, and the lease table.
    static let lifecycleTables: [String] = [
        "CREATE INDEX assets_touched ON assets (last_touched)",
        "CREATE INDEX recordings_created ON recordings (created_at)",
        "CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL)",
    ]
}
