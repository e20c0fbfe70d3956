import RRStoreCore
import ServiceLifecycle

/// Everything the service knows besides blob bytes: recordings, the asset index, each
/// tenant's asset links, which assets each recording references, event chunk manifests,
/// the durable buffer of accepted-but-not-yet-flushed events, and idempotency keys.
///
/// Implementations: SQLite (embedded default) and PostgreSQL (shared by several service
/// instances). Every call names its tenant; both pass one conformance suite.
///
/// A store is a `Service`: `run()` keeps what it needs running while it is used (for
/// PostgreSQL, the connection pool) until graceful shutdown or cancellation, so the
/// service group that runs the server runs the store too, and stops it last.
public protocol MetadataStore: Service, PackIndex, LifecycleIndex {
    /// Brings the schema to the current version (idempotent; safe with several instances):
    /// the expand migrations only, or with `contract` the contract ones too
    /// (`rrstore migrate`; see `StoreFormat`). Throws `StoreFormat.newerFormat` for a store
    /// in a newer format than this binary's.
    func migrate(contract: Bool) async throws
    func schemaVersion() async throws -> Int
    /// The store's format (`StoreFormat`).
    func storeFormat() async throws -> Int

    /// Creates the recording unless `(tenant, id)` exists; returns the stored one either way.
    func createRecording(_ recording: RecordingRecord) async throws -> (record: RecordingRecord, created: Bool)
    func recording(tenant: String, id: String) async throws -> RecordingRecord?
    /// Newest first (`createdAt`, then `id`, descending), after `cursor` when given.
    func listRecordings(tenant: String, limit: Int, after cursor: RecordingCursor?) async throws -> [RecordingRecord]
    /// Returns false if there is no such recording.
    func setScreenshot(tenant: String, id: String, digest: SHA256Digest, mediaType: String) async throws -> Bool
    /// Deletes the recording with its pending events, chunk manifests, references and
    /// idempotency keys, in one transaction; returns what the caller must delete from the
    /// blob store, or nil if there was no such recording.
    func deleteRecording(tenant: String, id: String) async throws -> DeletedRecording?

    /// Inserts the asset, or moves its `lastTouched` forward if it is already indexed.
    func upsertAsset(_ asset: AssetRecord) async throws
    /// After uploads whose bytes were re-hashed: indexes (or touches) the assets and links
    /// them to the tenant, in one transaction.
    func registerUploads(_ assets: [AssetRecord], tenant: String) async throws
    /// The asset, if this tenant holds a link to it.
    func linkedAsset(tenant: String, digest: SHA256Digest) async throws -> AssetRecord?
    /// The subset of `digests` this tenant holds links to.
    func linked(tenant: String, among digests: [SHA256Digest]) async throws -> Set<SHA256Digest>
    /// The index rows of the assets among `digests` this tenant holds links to (a link
    /// whose index row was forgotten does not count: its bytes must be sent again).
    func linkedAssets(tenant: String, among digests: [SHA256Digest]) async throws -> [SHA256Digest: AssetRecord]
    /// Drops the asset's index row and its pack entry (links stay): its bytes were found
    /// missing, so the next upload or ingest of the asset stores them again instead of
    /// trusting the index.
    func forgetIndexedAsset(_ digest: SHA256Digest) async throws
    /// The assets a recording's events reference (written by `appendEvents`): what
    /// retention and garbage collection weigh when the recording goes.
    func references(tenant: String, recording: String) async throws -> Set<SHA256Digest>

    /// Appends events to the recording's pending buffer, numbered on from its last event, in
    /// one transaction with the idempotency key, the index rows of `newAssets` (inserted or
    /// touched), the tenant's links to `assets` and the recording's references to them: a
    /// batch retried with the same key appends nothing and answers `.duplicate` with the
    /// first attempt's numbers. With a `requestDigest` (of the batch's body), a key reused
    /// for a different body throws `.idempotencyConflict` instead. Throws
    /// `.recordingNotFound` if the recording does not exist.
    /// `received`: the batch's bytes as the client sent them (before assets were cut out);
    /// nil: the events are as received.
    func appendEvents(tenant: String, recording: String, events: [[UInt8]], received: Int?, assets: [SHA256Digest], newAssets: [AssetRecord],
                      idempotencyKey: String?, requestDigest: SHA256Digest?, at time: Int64) async throws -> AppendOutcome
    /// Pending events of a recording from sequence `from` on, in order.
    func pendingEvents(tenant: String, recording: String, from: Int, limit: Int) async throws -> [PendingEvent]
    /// Records a flushed chunk and drops the pending events it holds, in one transaction.
    /// Throws `.conflict` (and changes nothing) unless every event of the chunk was still
    /// pending: another instance flushed them first.
    func commitChunk(_ chunk: ChunkRecord) async throws
    func chunks(tenant: String, recording: String) async throws -> [ChunkRecord]
    /// Recordings whose pending events are due for a flush: at least `minBytes` of them, or
    /// the oldest received at or before `oldestBefore`, or the newest at or before
    /// `newestBefore` (the recording went idle). At most `limit`, most overdue first.
    func flushCandidates(minBytes: Int, oldestBefore: Int64, newestBefore: Int64, limit: Int) async throws -> [PendingSummary]
}

public struct RecordingRecord: Sendable, Equatable {
    public var tenant: String
    public var id: String
    /// Milliseconds since 1970.
    public var createdAt: Int64
    public var screenshot: SHA256Digest?
    public var screenshotType: String?
    public var eventCount: Int
    public var byteCount: Int
    /// The events' times and first page (`EventSummary`); nil before the first event.
    public var summary: EventSummary
    /// The events' bytes as clients sent them (`byteCount` is what is kept of them, with
    /// references in place of assets); nil for events appended before schema 8 counted it.
    public var receivedBytes: Int?

    public init(tenant: String, id: String, createdAt: Int64, screenshot: SHA256Digest? = nil, screenshotType: String? = nil,
                eventCount: Int = 0, byteCount: Int = 0, summary: EventSummary = EventSummary(), receivedBytes: Int? = 0) {
        self.tenant = tenant
        self.id = id
        self.createdAt = createdAt
        self.screenshot = screenshot
        self.screenshotType = screenshotType
        self.eventCount = eventCount
        self.byteCount = byteCount
        self.summary = summary
        self.receivedBytes = receivedBytes
    }

    public var cursor: RecordingCursor { RecordingCursor(createdAt: createdAt, id: id) }
}

public struct RecordingCursor: Sendable, Equatable {
    public var createdAt: Int64
    public var id: String
    public init(createdAt: Int64, id: String) {
        self.createdAt = createdAt
        self.id = id
    }
}

public struct DeletedRecording: Sendable, Equatable {
    public var chunkKeys: [String]
    public var screenshot: SHA256Digest?
}

public struct AssetRecord: Sendable, Equatable {
    /// What an indexed asset is: one of the kinds the rewriter extracts, or bytes a client
    /// uploaded whole (`upload`: opaque to the server) or set as a screenshot. Stored as
    /// its raw value; a value this version does not know reads as `upload`.
    public enum Kind: Sendable, Hashable {
        case extracted(AssetKind)
        case upload
        case screenshot

        public static let tree = Kind.extracted(.tree)

        /// A value this version does not know reads as `upload` (opaque bytes).
        public init(stored: String) {
            if let kind = AssetKind(rawValue: stored) {
                self = .extracted(kind)
            } else {
                self = stored == "screenshot" ? .screenshot : .upload
            }
        }

        /// What the index row holds.
        public var stored: String {
            switch self {
            case .extracted(let kind): kind.rawValue
            case .upload: "upload"
            case .screenshot: "screenshot"
            }
        }

        /// The rewriter's kind, when the asset is one it extracts.
        public var assetKind: AssetKind? {
            if case .extracted(let kind) = self { kind } else { nil }
        }
    }

    public var digest: SHA256Digest
    public var size: Int
    public var mediaType: String?
    public var kind: Kind
    public var firstStored: Int64
    public var lastTouched: Int64
    /// The bytes a reader expands this asset to: its own size plus, for each reference
    /// it holds (trees, nested text), that asset's expansion, repeats counted. Bounded
    /// when the asset is linked, so no chain of small assets can make a read explode.
    public var expansion: Int

    public init(digest: SHA256Digest, size: Int, mediaType: String?, kind: Kind, firstStored: Int64, lastTouched: Int64,
                expansion: Int? = nil) {
        self.digest = digest
        self.size = size
        self.mediaType = mediaType
        self.kind = kind
        self.firstStored = firstStored
        self.lastTouched = lastTouched
        self.expansion = expansion ?? size
    }
}

public struct ChunkRecord: Sendable, Equatable {
    public var tenant: String
    public var recording: String
    public var sequence: Int
    public var blobKey: String
    /// The chunk holds events `firstEvent ..< firstEvent + eventCount`.
    public var firstEvent: Int
    public var eventCount: Int
    public var byteCount: Int
    public var storedBytes: Int

    public init(tenant: String, recording: String, sequence: Int, blobKey: String, firstEvent: Int, eventCount: Int, byteCount: Int, storedBytes: Int) {
        self.tenant = tenant
        self.recording = recording
        self.sequence = sequence
        self.blobKey = blobKey
        self.firstEvent = firstEvent
        self.eventCount = eventCount
        self.byteCount = byteCount
        self.storedBytes = storedBytes
    }
}

public struct PendingEvent: Sendable, Equatable {
    public var sequence: Int
    public var bytes: [UInt8]
    public init(sequence: Int, bytes: [UInt8]) {
        self.sequence = sequence
        self.bytes = bytes
    }
}

public struct PendingSummary: Sendable, Equatable {
    public var tenant: String
    public var recording: String
    public var events: Int
    public var bytes: Int
    public var oldestReceived: Int64
    public init(tenant: String, recording: String, events: Int, bytes: Int, oldestReceived: Int64) {
        self.tenant = tenant
        self.recording = recording
        self.events = events
        self.bytes = bytes
        self.oldestReceived = oldestReceived
    }
}

extension MetadataStore {
    public func pendingEvents(tenant: String, recording: String, limit: Int) async throws -> [PendingEvent] {
        try await pendingEvents(tenant: tenant, recording: recording, from: 0, limit: limit)
    }

    public func appendEvents(tenant: String, recording: String, events: [[UInt8]], idempotencyKey: String?, at time: Int64) async throws -> AppendOutcome {
        try await appendEvents(tenant: tenant, recording: recording, events: events, received: nil, assets: [], newAssets: [],
                               idempotencyKey: idempotencyKey, requestDigest: nil, at: time)
    }

    public func appendEvents(tenant: String, recording: String, events: [[UInt8]], assets: [SHA256Digest],
                             idempotencyKey: String?, at time: Int64) async throws -> AppendOutcome {
        try await appendEvents(tenant: tenant, recording: recording, events: events, received: nil, assets: assets, newAssets: [],
                               idempotencyKey: idempotencyKey, requestDigest: nil, at: time)
    }

    public func appendEvents(tenant: String, recording: String, events: [[UInt8]], assets: [SHA256Digest], newAssets: [AssetRecord],
                             idempotencyKey: String?, at time: Int64) async throws -> AppendOutcome {
        try await appendEvents(tenant: tenant, recording: recording, events: events, received: nil, assets: assets, newAssets: newAssets,
                               idempotencyKey: idempotencyKey, requestDigest: nil, at: time)
    }
}

public enum AppendOutcome: Sendable, Equatable {
    case appended(firstSequence: Int, count: Int)
    /// The idempotency key was seen before: nothing was appended this time.
    case duplicate(firstSequence: Int, count: Int)
}

extension RRStoreError.Code {
    public static let recordingNotFound = RRStoreError.Code("recording_not_found")
    public static let conflict = RRStoreError.Code("conflict")
    public static let database = RRStoreError.Code("database_error")
    public static let idempotencyConflict = RRStoreError.Code("idempotency_conflict")
}

/// What both SQL stores do with an idempotency key seen before.
enum IdempotencyKeys {
    /// A retry must carry the first attempt's body: the same key over other bytes is a
    /// client bug that would otherwise drop the new events silently. Keys stored before
    /// digests were kept (`stored` nil) and requests without one are not compared.
    static func check(_ key: String, stored: String?, against requested: SHA256Digest?) throws {
        guard let stored, let requested, stored != requested.description else { return }
        throw RRStoreError(.idempotencyConflict, "Idempotency-Key '\(key)' was used before for a different body; a retry must send the same bytes, and a new batch needs a new key")
    }
}

extension MetadataStore {
    /// The expand migrations: what every binary does at start.
    public func migrate() async throws { try await migrate(contract: false) }
}

extension RRStoreError {
    static func chunkConflict(_ chunk: ChunkRecord) -> RRStoreError {
        RRStoreError(.conflict, "events \(chunk.firstEvent)..<\(chunk.firstEvent + chunk.eventCount) of recording '\(chunk.recording)' are no longer all pending (flushed by another instance, or the recording was deleted); nothing was committed")
    }
}

/// The schema both SQL stores share, one statement per entry, per version. The SQL is
/// written to run on SQLite and PostgreSQL alike (BIGINT, TEXT; blobs differ and are
/// filled in per dialect).
enum MetadataSchema {
    enum Dialect { case sqlite, postgres }

    static func migrations(_ dialect: Dialect) -> [(version: Int, statements: [String])] {
        let blobType = dialect == .sqlite ? "BLOB" : "BYTEA"
        return [(1, [
            """
            CREATE TABLE recordings (
                tenant TEXT NOT NULL, id TEXT NOT NULL, created_at BIGINT NOT NULL,
                screenshot_digest TEXT, screenshot_type TEXT,
                event_count BIGINT NOT NULL DEFAULT 0, byte_count BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (tenant, id))
            """,
            "CREATE INDEX recordings_newest ON recordings (tenant, created_at DESC, id DESC)",
            """
            CREATE TABLE assets (
                digest TEXT PRIMARY KEY, size BIGINT NOT NULL, media_type TEXT, kind TEXT NOT NULL,
                first_stored BIGINT NOT NULL, last_touched BIGINT NOT NULL)
            """,
            "CREATE TABLE asset_links (tenant TEXT NOT NULL, digest TEXT NOT NULL, linked_at BIGINT NOT NULL, PRIMARY KEY (tenant, digest))",
            "CREATE TABLE recording_assets (tenant TEXT NOT NULL, recording TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (tenant, recording, digest))",
            "CREATE INDEX recording_assets_digest ON recording_assets (digest)",
            """
            CREATE TABLE chunks (
                tenant TEXT NOT NULL, recording TEXT NOT NULL, sequence BIGINT NOT NULL, blob_key TEXT NOT NULL,
                first_event BIGINT NOT NULL, event_count BIGINT NOT NULL, byte_count BIGINT NOT NULL, stored_bytes BIGINT NOT NULL,
                PRIMARY KEY (tenant, recording, sequence))
            """,
            """
            CREATE TABLE pending_events (
                tenant TEXT NOT NULL, recording TEXT NOT NULL, sequence BIGINT NOT NULL, body \(blobType) NOT NULL, received_at BIGINT NOT NULL,
                PRIMARY KEY (tenant, recording, sequence))
            """,
            """
            CREATE TABLE idempotency_keys (
                tenant TEXT NOT NULL, recording TEXT NOT NULL, key TEXT NOT NULL,
                first_sequence BIGINT NOT NULL, event_count BIGINT NOT NULL, created_at BIGINT NOT NULL,
                PRIMARY KEY (tenant, recording, key))
            """,
        ]),
        (2, dialect == .sqlite ? clusterByDigest : []),
        // Hardening: each asset's expansion (NULL: its size), checked when it is linked;
        // and each idempotency key's body digest, so a key reused for another body is refused.
        (3, ["ALTER TABLE assets ADD COLUMN expanded_size BIGINT",
             "ALTER TABLE idempotency_keys ADD COLUMN body_digest TEXT"]),
        // Format 2 (a contract step, `StoreFormat`): event chunks may be zstd. No schema change.
        (4, []),
        // Packs: staged assets, packs, the pack index (expand: older binaries ignore them).
        (5, packTables(dialect)),
        // Format 3 (contract): small assets go to packs. No schema change.
        (6, []),
        // Lifecycle (expand): indexes for the collector and retention, the lease table.
        (7, lifecycleTables),
        // The viewer's list (expand): each recording's bytes as received, its first and last
        // event time and its first page's URL (`EventSummary`), kept as events are appended
        // (received_bytes stays NULL for a recording that had events before).
        (8, ["ALTER TABLE recordings ADD COLUMN received_bytes BIGINT",
             "ALTER TABLE recordings ADD COLUMN started_at BIGINT",
             "ALTER TABLE recordings ADD COLUMN ended_at BIGINT",
             "ALTER TABLE recordings ADD COLUMN first_url TEXT"])]
    }

    /// The embedded store's metadata is mostly the digest-keyed tables. SQLite keeps a
    /// rowid table plus a separate index for a text primary key, and the text form of a
    /// digest takes 71 bytes: rebuilt WITHOUT ROWID, keyed by the digest's 32 bytes, they
    /// take well under half the space. (`rrstore_digest_bytes` is registered by the
    /// SQLite store; PostgreSQL keeps its heap + index layout and text digests.)
    private static let clusterByDigest: [String] = [
        ("assets", "digest BLOB PRIMARY KEY, size BIGINT NOT NULL, media_type TEXT, kind TEXT NOT NULL, first_stored BIGINT NOT NULL, last_touched BIGINT NOT NULL",
         "rrstore_digest_bytes(digest), size, media_type, kind, first_stored, last_touched"),
        ("asset_links", "tenant TEXT NOT NULL, digest BLOB NOT NULL, linked_at BIGINT NOT NULL, PRIMARY KEY (tenant, digest)",
         "tenant, rrstore_digest_bytes(digest), linked_at"),
        ("recording_assets", "tenant TEXT NOT NULL, recording TEXT NOT NULL, digest BLOB NOT NULL, PRIMARY KEY (tenant, recording, digest)",
         "tenant, recording, rrstore_digest_bytes(digest)"),
    ].flatMap { table, columns, conversion in
        ["CREATE TABLE \(table)_v2 (\(columns)) WITHOUT ROWID",
         "INSERT INTO \(table)_v2 SELECT \(conversion) FROM \(table)",
         "DROP TABLE \(table)",
         "ALTER TABLE \(table)_v2 RENAME TO \(table)"]
    } + ["CREATE INDEX recording_assets_digest ON recording_assets (digest)"]

    /// The expand step that adds the recordings' event summary columns.
    static let eventSummaryVersion = 8

    static var currentVersion: Int { migrations(.sqlite).map(\.version).max() ?? 0 }
}

extension MetadataStore {
    /// `registerUploads` of one asset.
    public func registerUpload(_ asset: AssetRecord, tenant: String) async throws {
        try await registerUploads([asset], tenant: tenant)
    }
}
