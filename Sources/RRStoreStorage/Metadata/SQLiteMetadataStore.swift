import Foundation
import GRDB
import RRStoreCore
import RRStoreIO
import ServiceLifecycle
import Synchronization

/// The embedded metadata store: one SQLite database in WAL mode (GRDB), `synchronous=FULL`,
/// so a committed transaction survives a crash.
public final class SQLiteMetadataStore: MetadataStore {
    private let pool: DatabasePool
    private let path: String
    /// Whether the recordings table has schema 8's summary columns: a store waiting for a
    /// contract step (`rrstore migrate`) gets no later expand step until then.
    let hasSummaryColumns = Mutex(false)

    /// Opens (creating if needed) the database at `path` and migrates it.
    public init(path: String) async throws {
        var configuration = Configuration()
        self.path = path
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw RRStoreError(.database, "cannot open the SQLite database at \(path): \(error)")
        }
        try await migrate()
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch let error as RRStoreError { throw error } catch {
            throw RRStoreError(.database, "SQLite: \(error)")
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch let error as RRStoreError { throw error } catch {
            throw RRStoreError(.database, "SQLite: \(error)")
        }
    }

    /// SQLite needs nothing running between calls: this only waits for graceful shutdown
    /// (or cancellation), as the `Service` a server's group runs.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        }
    }

    public func migrate(contract: Bool) async throws {
        let path = self.path
        let pool = self.pool
        do {
            // What is applied, and the store's format (refused if newer than this binary's).
            let (applied, stored) = try await pool.write { db -> (Set<Int>, Int?) in
                try db.execute(sql: StoreFormat.createTable)
                let stored = try Int.fetchOne(db, sql: "SELECT format FROM rrstore_format WHERE id = 1")
                guard try db.tableExists("grdb_migrations") else { return ([], stored) }
                let identifiers = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
                return (Set(identifiers.compactMap { $0.hasPrefix("v") ? Int($0.dropFirst()) : nil }), stored)
            }
            try StoreFormat.check(stored: stored ?? 1, where: path)
            let migrations = MetadataSchema.migrations(.sqlite)
            let pending = migrations.map(\.version).filter { !applied.contains($0) }.sorted()
            let plan = StoreFormat.plan(pending: pending, storedFormat: stored, isNew: applied.isEmpty, contract: contract)
            var migrator = DatabaseMigrator()
            for migration in migrations where applied.contains(migration.version) || plan.apply.contains(migration.version) {
                migrator.registerMigration("v\(migration.version)") { db in
                    db.add(function: SHA256Digest.fromTextFunction)
                    for statement in migration.statements { try db.execute(sql: statement) }
                }
            }
            hasSummaryColumns.withLock { $0 = applied.contains(MetadataSchema.eventSummaryVersion) || plan.apply.contains(MetadataSchema.eventSummaryVersion) }
            let frozen = migrator
            if !plan.apply.isEmpty {
                // The migrator blocks until readers are done: never on the cooperative pool,
                // whose few threads those readers may need.
                try await BlockingIO.run { try frozen.migrate(pool) }
            }
            try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO rrstore_format (id, format, updated_at) VALUES (1, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET format = excluded.format, updated_at = excluded.updated_at WHERE rrstore_format.format <> excluded.format
                    """, arguments: [plan.format, Int64(Date().timeIntervalSince1970 * 1000)])
            }
        } catch let error as RRStoreError { throw error } catch {
            throw RRStoreError(.database, "SQLite migration failed: \(error)")
        }
    }

    /// The format of the database at `path`, opened read-only; nil if it records none.
    public static func format(at path: String) async throws -> Int? {
        var configuration = Configuration()
        configuration.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            return try await queue.read { db in
                try db.tableExists("rrstore_format") ? Int.fetchOne(db, sql: "SELECT format FROM rrstore_format WHERE id = 1") : nil
            }
        } catch {
            throw RRStoreError(.database, "cannot read the SQLite database at \(path): \(error)")
        }
    }

    public func storeFormat() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT format FROM rrstore_format WHERE id = 1") ?? 1 }
    }

    /// Gives free pages back to the filesystem and folds the write-ahead log into the
    /// database (`VACUUM`, then a truncating checkpoint): maintenance, and for measuring
    /// what the metadata really takes.
    public func compact() async throws {
        do {
            try await pool.writeWithoutTransaction { db in
                try db.execute(sql: "VACUUM")
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
        } catch {
            throw RRStoreError(.database, "SQLite compaction failed: \(error)")
        }
    }

    public func schemaVersion() async throws -> Int {
        try await read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations").compactMap { Int($0.dropFirst()) }.max() ?? 0
        }
    }

    // MARK: Recordings

    static func recording(_ row: Row) -> RecordingRecord {
        RecordingRecord(tenant: row["tenant"], id: row["id"], createdAt: row["created_at"],
                        screenshot: (row["screenshot_digest"] as String?).flatMap { SHA256Digest(parsing: $0) },
                        screenshotType: row["screenshot_type"], eventCount: row["event_count"], byteCount: row["byte_count"],
                        summary: EventSummary(firstTimestamp: row["started_at"], lastTimestamp: row["ended_at"], firstURL: row["first_url"]),
                        receivedBytes: row["received_bytes"])
    }

    public func createRecording(_ recording: RecordingRecord) async throws -> (record: RecordingRecord, created: Bool) {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO recordings (tenant, id, created_at, screenshot_digest, screenshot_type) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (tenant, id) DO NOTHING
                """, arguments: [recording.tenant, recording.id, recording.createdAt, recording.screenshot?.description, recording.screenshotType])
            let created = db.changesCount > 0
            let row = try Row.fetchOne(db, sql: "SELECT * FROM recordings WHERE tenant = ? AND id = ?", arguments: [recording.tenant, recording.id])!
            return (SQLiteMetadataStore.recording(row), created)
        }
    }

    public func recording(tenant: String, id: String) async throws -> RecordingRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM recordings WHERE tenant = ? AND id = ?", arguments: [tenant, id]).map(SQLiteMetadataStore.recording)
        }
    }

    public func listRecordings(tenant: String, limit: Int, after cursor: RecordingCursor?) async throws -> [RecordingRecord] {
        try await read { db in
            let rows: [Row]
            if let cursor {
                rows = try Row.fetchAll(db, sql: """
                    SELECT * FROM recordings WHERE tenant = ? AND (created_at < ? OR (created_at = ? AND id < ?))
                    ORDER BY created_at DESC, id DESC LIMIT ?
                    """, arguments: [tenant, cursor.createdAt, cursor.createdAt, cursor.id, limit])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM recordings WHERE tenant = ? ORDER BY created_at DESC, id DESC LIMIT ?",
                                        arguments: [tenant, limit])
            }
            return rows.map(SQLiteMetadataStore.recording)
        }
    }

    public func setScreenshot(tenant: String, id: String, digest: SHA256Digest, mediaType: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "UPDATE recordings SET screenshot_digest = ?, screenshot_type = ? WHERE tenant = ? AND id = ?",
                           arguments: [digest.description, mediaType, tenant, id])
            return db.changesCount > 0
        }
    }

    public func deleteRecording(tenant: String, id: String) async throws -> DeletedRecording? {
        try await write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM recordings WHERE tenant = ? AND id = ?", arguments: [tenant, id]) else { return nil }
            let keys = try String.fetchAll(db, sql: "SELECT blob_key FROM chunks WHERE tenant = ? AND recording = ? ORDER BY sequence", arguments: [tenant, id])
            for table in ["pending_events", "chunks", "recording_assets", "idempotency_keys"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE tenant = ? AND recording = ?", arguments: [tenant, id])
            }
            try db.execute(sql: "DELETE FROM recordings WHERE tenant = ? AND id = ?", arguments: [tenant, id])
            return DeletedRecording(chunkKeys: keys, screenshot: SQLiteMetadataStore.recording(row).screenshot)
        }
    }

    // MARK: Assets

    public func upsertAsset(_ asset: AssetRecord) async throws {
        try await write { db in try SQLiteMetadataStore.upsert(asset, db) }
    }

    static func upsert(_ asset: AssetRecord, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO assets (digest, size, media_type, kind, first_stored, last_touched, expanded_size) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (digest) DO UPDATE SET last_touched = MAX(assets.last_touched, excluded.last_touched),
                expanded_size = COALESCE(assets.expanded_size, excluded.expanded_size)
            """, arguments: [asset.digest.sqliteValue, asset.size, asset.mediaType, asset.kind.stored, asset.firstStored, asset.lastTouched, asset.expansion])
    }

    public func registerUploads(_ assets: [AssetRecord], tenant: String) async throws {
        guard !assets.isEmpty else { return }
        try await write { db in
            for asset in assets {
                try SQLiteMetadataStore.upsert(asset, db)
                try db.execute(sql: """
                    INSERT INTO asset_links (tenant, digest, linked_at) VALUES (?, ?, ?)
                    ON CONFLICT (tenant, digest) DO UPDATE SET linked_at = MAX(linked_at, excluded.linked_at)
                    """, arguments: [tenant, asset.digest.sqliteValue, asset.lastTouched])
            }
        }
    }

    public func linkedAsset(tenant: String, digest: SHA256Digest) async throws -> AssetRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: """
                SELECT a.* FROM assets a JOIN asset_links l ON l.digest = a.digest WHERE l.tenant = ? AND a.digest = ?
                """, arguments: [tenant, digest.sqliteValue]).map { row in
                SQLiteMetadataStore.asset(digest, row)
            }
        }
    }

    static func asset(_ digest: SHA256Digest, _ row: Row) -> AssetRecord {
        AssetRecord(digest: digest, size: row["size"], mediaType: row["media_type"], kind: AssetRecord.Kind(stored: row["kind"]),
                    firstStored: row["first_stored"], lastTouched: row["last_touched"], expansion: row["expanded_size"])
    }

    public func linkedAssets(tenant: String, among digests: [SHA256Digest]) async throws -> [SHA256Digest: AssetRecord] {
        try await read { db in
            var found: [SHA256Digest: AssetRecord] = [:]
            for batch in stride(from: 0, to: digests.count, by: 500).map({ Array(digests[$0..<min($0 + 500, digests.count)]) }) {
                let marks = Array(repeating: "?", count: batch.count).joined(separator: ",")
                var arguments: [any DatabaseValueConvertible] = [tenant]
                arguments += batch.map(\.sqliteValue)
                let rows = try Row.fetchAll(db, sql: """
                    SELECT a.* FROM asset_links l JOIN assets a ON a.digest = l.digest WHERE l.tenant = ? AND l.digest IN (\(marks))
                    """, arguments: StatementArguments(arguments))
                for row in rows {
                    if let digest = SHA256Digest(sqliteValue: row["digest"] as Data) { found[digest] = SQLiteMetadataStore.asset(digest, row) }
                }
            }
            return found
        }
    }

    public func forgetIndexedAsset(_ digest: SHA256Digest) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM assets WHERE digest = ?", arguments: [digest.sqliteValue])
            try db.execute(sql: "DELETE FROM pack_entries WHERE digest = ?", arguments: [digest.sqliteValue])
        }
    }

    public func linked(tenant: String, among digests: [SHA256Digest]) async throws -> Set<SHA256Digest> {
        try await read { db in
            var found = Set<SHA256Digest>()
            for batch in stride(from: 0, to: digests.count, by: 500).map({ Array(digests[$0..<min($0 + 500, digests.count)]) }) {
                let marks = Array(repeating: "?", count: batch.count).joined(separator: ",")
                var arguments: [any DatabaseValueConvertible] = [tenant]
                arguments += batch.map(\.sqliteValue)
                let rows = try Data.fetchAll(db, sql: "SELECT digest FROM asset_links WHERE tenant = ? AND digest IN (\(marks))",
                                             arguments: StatementArguments(arguments))
                found.formUnion(rows.compactMap(SHA256Digest.init(sqliteValue:)))
            }
            return found
        }
    }

    public func references(tenant: String, recording: String) async throws -> Set<SHA256Digest> {
        try await read { db in
            Set(try Data.fetchAll(db, sql: "SELECT digest FROM recording_assets WHERE tenant = ? AND recording = ?",
                                  arguments: [tenant, recording]).compactMap(SHA256Digest.init(sqliteValue:)))
        }
    }

    // MARK: Ingest

    /// Adds an append's events to its recording's counts and, from schema 8 on, to its summary.
    private static func count(_ events: [[UInt8]], bytes: Int, received: Int, summary: EventSummary?, tenant: String, recording: String,
                              _ db: Database) throws {
        guard let summary else {
            try db.execute(sql: "UPDATE recordings SET event_count = event_count + ?, byte_count = byte_count + ? WHERE tenant = ? AND id = ?",
                           arguments: [events.count, bytes, tenant, recording])
            return
        }
        // SQLite's two-argument MIN/MAX give NULL if either side is NULL: COALESCE keeps
        // whichever side is set. Bytes received are counted from a recording's first event
        // (NULL, unknown, for one that had events before the column).
        try db.execute(sql: """
            UPDATE recordings SET event_count = event_count + ?, byte_count = byte_count + ?,
                received_bytes = CASE WHEN event_count = 0 THEN 0 ELSE received_bytes END + ?,
                started_at = COALESCE(MIN(started_at, ?), started_at, ?), ended_at = COALESCE(MAX(ended_at, ?), ended_at, ?),
                first_url = COALESCE(first_url, ?)
            WHERE tenant = ? AND id = ?
            """, arguments: [events.count, bytes, received, summary.firstTimestamp, summary.firstTimestamp, summary.lastTimestamp, summary.lastTimestamp,
                             summary.firstURL, tenant, recording])
    }

    public func appendEvents(tenant: String, recording: String, events: [[UInt8]], received: Int?, assets: [SHA256Digest], newAssets: [AssetRecord],
                             idempotencyKey: String?, requestDigest: SHA256Digest?, at time: Int64) async throws -> AppendOutcome {
        // Read before the write transaction: the writer lock is not held for parsing.
        let summary = hasSummaryColumns.withLock { $0 } ? EventSummary(events: events) : nil
        return try await write { db in
            if let idempotencyKey, let row = try Row.fetchOne(db, sql: """
                SELECT first_sequence, event_count, body_digest FROM idempotency_keys WHERE tenant = ? AND recording = ? AND key = ?
                """, arguments: [tenant, recording, idempotencyKey]) {
                try IdempotencyKeys.check(idempotencyKey, stored: row["body_digest"], against: requestDigest)
                return .duplicate(firstSequence: row["first_sequence"], count: row["event_count"])
            }
            guard let first = try Int.fetchOne(db, sql: "SELECT event_count FROM recordings WHERE tenant = ? AND id = ?", arguments: [tenant, recording]) else {
                throw RRStoreError(.recordingNotFound, "no recording '\(recording)'")
            }
            var bytes = 0
            for (offset, event) in events.enumerated() {
                bytes += event.count
                try db.execute(sql: "INSERT INTO pending_events (tenant, recording, sequence, body, received_at) VALUES (?, ?, ?, ?, ?)",
                               arguments: [tenant, recording, first + offset, Data(event), time])
            }
            try Self.count(events, bytes: bytes, received: received ?? bytes, summary: summary, tenant: tenant, recording: recording, db)
            for asset in newAssets { try SQLiteMetadataStore.upsert(asset, db) }
            for digest in Set(assets).map(\.sqliteValue) {
                try db.execute(sql: """
                    INSERT INTO asset_links (tenant, digest, linked_at) VALUES (?, ?, ?)
                    ON CONFLICT (tenant, digest) DO UPDATE SET linked_at = MAX(linked_at, excluded.linked_at)
                    """, arguments: [tenant, digest, time])
                try db.execute(sql: "INSERT INTO recording_assets (tenant, recording, digest) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                               arguments: [tenant, recording, digest])
            }
            if let idempotencyKey {
                try db.execute(sql: """
                    INSERT INTO idempotency_keys (tenant, recording, key, first_sequence, event_count, created_at, body_digest) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [tenant, recording, idempotencyKey, first, events.count, time, requestDigest?.description])
            }
            return .appended(firstSequence: first, count: events.count)
        }
    }

    public func pendingEvents(tenant: String, recording: String, from: Int, limit: Int) async throws -> [PendingEvent] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT sequence, body FROM pending_events WHERE tenant = ? AND recording = ? AND sequence >= ? ORDER BY sequence LIMIT ?
                """, arguments: [tenant, recording, from, limit]).map { row in
                PendingEvent(sequence: row["sequence"], bytes: [UInt8](row["body"] as Data))
            }
        }
    }

    public func commitChunk(_ chunk: ChunkRecord) async throws {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO chunks (tenant, recording, sequence, blob_key, first_event, event_count, byte_count, stored_bytes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """, arguments: [chunk.tenant, chunk.recording, chunk.sequence, chunk.blobKey, chunk.firstEvent, chunk.eventCount, chunk.byteCount, chunk.storedBytes])
            guard db.changesCount == 1 else { throw RRStoreError.chunkConflict(chunk) }
            try db.execute(sql: "DELETE FROM pending_events WHERE tenant = ? AND recording = ? AND sequence >= ? AND sequence < ?",
                           arguments: [chunk.tenant, chunk.recording, chunk.firstEvent, chunk.firstEvent + chunk.eventCount])
            guard db.changesCount == chunk.eventCount else {
                throw RRStoreError.chunkConflict(chunk)
            }
        }
    }

    public func flushCandidates(minBytes: Int, oldestBefore: Int64, newestBefore: Int64, limit: Int) async throws -> [PendingSummary] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT tenant, recording, COUNT(*) AS events, SUM(length(body)) AS bytes, MIN(received_at) AS oldest
                FROM pending_events GROUP BY tenant, recording
                HAVING SUM(length(body)) >= ? OR MIN(received_at) <= ? OR MAX(received_at) <= ?
                ORDER BY oldest LIMIT ?
                """, arguments: [minBytes, oldestBefore, newestBefore, limit]).map { row in
                PendingSummary(tenant: row["tenant"], recording: row["recording"], events: row["events"], bytes: row["bytes"],
                               oldestReceived: row["oldest"])
            }
        }
    }

    public func chunks(tenant: String, recording: String) async throws -> [ChunkRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM chunks WHERE tenant = ? AND recording = ? ORDER BY sequence", arguments: [tenant, recording]).map { row in
                ChunkRecord(tenant: row["tenant"], recording: row["recording"], sequence: row["sequence"], blobKey: row["blob_key"],
                            firstEvent: row["first_event"], eventCount: row["event_count"], byteCount: row["byte_count"], storedBytes: row["stored_bytes"])
            }
        }
    }
}

extension SHA256Digest {
    /// A digest as SQLite keeps it: its 32 bytes (the text form is more than twice as big,
    /// in the table and again in its index).
    var sqliteValue: Data { Data(bytes) }

    init?(sqliteValue: Data) {
        guard sqliteValue.count == 32 else { return nil }
        self.init(bytes: sqliteValue)
    }

    /// `rrstore_digest_bytes(text)`: the migration from text digests (`sha256:<hex>`) to
    /// their bytes. (SQLite's own `unhex` is newer than the 3.40 Debian ships.)
    static let fromTextFunction = DatabaseFunction("rrstore_digest_bytes", argumentCount: 1, pure: true) { values in
        guard let text = String.fromDatabaseValue(values[0]), let digest = SHA256Digest(parsing: text) else {
            throw RRStoreError(.database, "a stored digest is not sha256:<64 hex>: \(values[0])")
        }
        return digest.sqliteValue
    }
}
