import Logging
import NIOCore
import PostgresNIO
import Synchronization
import RRStoreCore
import RRStoreIO
import ServiceLifecycle

/// The scale-out metadata store on PostgreSQL (postgres-nio, pooled connections). Several
/// service instances share one database: appends lock their recording's row, migrations
/// take an advisory lock.
///
/// `run()` drives the connection pool; it must be running (in a task group or as a
/// service) while the store is used.
public final class PostgresMetadataStore: MetadataStore {
    let client: PostgresClient
    let logger: Logger
    /// The stage's schema, if any.
    private let schema: String?
    /// Opens when `run()` starts: services start together, and a query that leases a
    /// connection before the pool runs makes PostgresNIO log a warning each time.
    private let poolStarted = Gate()
    /// host:port, for messages.
    private let target: String
    /// How long one operation may wait for PostgreSQL (see `wrap`).
    public let operationTimeout: Duration
    /// Whether the recordings table has schema 8's summary columns: a store waiting for a
    /// contract step (`rrstore migrate`) gets no later expand step until then.
    let hasSummaryColumns = Mutex(false)

    /// `url`: `postgres://user[:password]@host[:port]/database` (TLS off: for loopback or a
    /// private network; put a TLS-terminating proxy in between otherwise).
    /// `schema`: a stage's schema (`Stage.postgresSchema`), which every connection of the
    /// pool searches first; nil: the database's default (`public`).
    public init(url: String, schema: String? = nil, operationTimeout: Duration = .seconds(30),
                logger: Logger = Logger(label: "rrstore.postgres")) throws {
        var configuration = try PostgresMetadataStore.configuration(from: url)
        if let schema { configuration.options.additionalStartupParameters = [("search_path", schema)] }
        self.schema = schema
        self.logger = logger
        self.operationTimeout = operationTimeout
        target = "\(configuration.host ?? "?"):\(configuration.port ?? 5432)"
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// Runs the connection pool until graceful shutdown or cancellation.
    public func run() async {
        poolStarted.open()
        await cancelWhenGracefulShutdown { await self.client.run() }
    }

    /// Creates the database the URL names unless it exists, connecting to the server's
    /// `postgres` maintenance database (the user needs CREATEDB). For first deployments
    /// and for tests that want a database of their own.
    public static func createDatabaseIfMissing(url: String, logger: Logger = Logger(label: "rrstore.postgres")) async throws {
        var configuration = try configuration(from: url)
        guard let name = configuration.database, !name.isEmpty,
              name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "_") }) else {
            throw RRStoreError(.invalidConfiguration, "'\(url)' must name a database of lower-case letters, digits and _ to be created")
        }
        configuration.database = "postgres"
        do {
            try await withClient(configuration, logger: logger) { client in
                let exists = try await client.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: logger).collect().count > 0
                if !exists {
                    do {
                        try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
                    } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P04" {
                        // Created meanwhile by another instance.
                    }
                }
            }
        } catch let error as RRStoreError {
            throw RRStoreError(.database, "could not create database \(name): \(error.message)")
        }
    }

    /// The stages with a schema in the database `url` names, with each one's format.
    public static func stageSchemas(url: String, logger: Logger = Logger(label: "rrstore.postgres")) async throws -> [(stage: Stage, format: Int?)] {
        try await withClient(url: url, logger: logger) { client in
            var stages: [(Stage, Int?)] = []
            let rows = try await client.query("SELECT schema_name::text FROM information_schema.schemata WHERE schema_name LIKE 'rrstore\\_stage\\_%' ORDER BY 1", logger: logger)
            for try await schema in rows.decode(String.self) {
                guard let stage = Stage.fromSchema(schema) else { continue }
                var format: Int?
                // The stage's schema name is a safe unquoted identifier (`Stage`).
                if let found = try? await client.query(PostgresQuery(unsafeSQL: "SELECT format FROM \(schema).rrstore_format WHERE id = 1"), logger: logger) {
                    for try await value in found.decode(Int.self) { format = value }
                }
                stages.append((stage, format))
            }
            return stages
        }
    }

    /// Drops a stage's schema with everything in it; returns whether there was one.
    public static func dropStage(_ stage: Stage, url: String, logger: Logger = Logger(label: "rrstore.postgres")) async throws -> Bool {
        try await withClient(url: url, logger: logger) { client in
            let schema = stage.postgresSchema
            let exists = try await client.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = \(schema)", logger: logger).collect().count > 0
            if exists { try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"), logger: logger) }
            return exists
        }
    }

    /// A client of the database `url` names, running while `body` runs.
    private static func withClient<T: Sendable>(url: String, logger: Logger, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await withClient(try configuration(from: url), logger: logger, body)
    }

    private static func withClient<T: Sendable>(_ configuration: PostgresClient.Configuration, logger: Logger,
                                                _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        do {
            return try await withThrowingTaskGroup(of: Void.self) { group in
                let started = Gate()
                group.addTask {
                    started.open()
                    await client.run()
                }
                defer { group.cancelAll() }
                await started.wait()
                return try await body(client)
            }
        } catch let error as PSQLError {
            throw RRStoreError(.database, "PostgreSQL: \(String(reflecting: error))")
        }
    }

    static func configuration(from url: String) throws -> PostgresClient.Configuration {
        func invalid() -> RRStoreError {
            RRStoreError(.invalidConfiguration, "'\(url)' is not a PostgreSQL URL like postgres://user:password@127.0.0.1:5432/rrstore")
        }
        var rest = Substring(url)
        if rest.hasPrefix("postgres://") { rest = rest.dropFirst("postgres://".count) }
        else if rest.hasPrefix("postgresql://") { rest = rest.dropFirst("postgresql://".count) }
        else { throw invalid() }
        guard let at = rest.lastIndex(of: "@") else { throw invalid() }
        let credentials = rest[..<at].split(separator: ":", maxSplits: 1).map { String($0).removingPercentEncoding() }
        let location = rest[rest.index(after: at)...]
        let hostPort = location.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let database = location.split(separator: "/", maxSplits: 1).dropFirst().first.map { String($0.split(separator: "?").first ?? "") }
        let hostParts = hostPort.split(separator: ":")
        guard let host = hostParts.first.map(String.init), !host.isEmpty, let user = credentials.first, !user.isEmpty else { throw invalid() }
        let port = hostParts.count > 1 ? Int(hostParts[1]) : 5432
        guard let port else { throw invalid() }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user,
                                                         password: credentials.count > 1 ? credentials[1] : nil,
                                                         database: database?.isEmpty == false ? database : nil, tls: .disable)
        configuration.options.maximumConnections = 20
        return configuration
    }

    /// Runs a database operation, with PostgreSQL's errors turned into `RRStoreError`s. An
    /// operation that gets no answer within `operationTimeout` — the server is down or
    /// unreachable, and the pool keeps trying to connect — fails (503 in the service)
    /// instead of waiting forever.
    @discardableResult
    func wrap<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        await poolStarted.wait()
        let timeout = operationTimeout
        let target = self.target
        do {
            // At the deadline the caller gets its answer; the operation is cancelled but not
            // waited for: a query queued behind a lock does not end when its task is
            // cancelled, and awaiting it would hold the caller as long as the lock.
            let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
            return try await withDeadline(seconds: seconds, {
                RRStoreError(.database, "PostgreSQL at \(target) did not answer within \(timeout) (is it running and reachable from here, or is a lock held? its connection errors are logged)")
            }, body)
        } catch let error as RRStoreError { throw error } catch let error as PostgresTransactionError {
            // Our own errors thrown inside a transaction come back wrapped; unwrap them.
            if let inner = error.closureError as? RRStoreError { throw inner }
            throw RRStoreError(.database, "PostgreSQL transaction failed: \(String(reflecting: error))")
        } catch let error as PSQLError {
            throw RRStoreError(.database, "PostgreSQL: \(String(reflecting: error))")
        } catch {
            throw RRStoreError(.database, "PostgreSQL: \(error)")
        }
    }

    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await wrap { [self] in try await client.withTransaction(logger: logger) { connection in try await body(connection) } }
    }

    // MARK: Schema

    public func migrate(contract: Bool) async throws {
        let schema = self.schema
        try await transaction { [self] connection in
            // One instance migrates a schema at a time; the others wait, then find nothing to
            // do. Advisory locks are database-wide, so a stage's schema has a lock of its own
            // (stages in one database would otherwise queue behind each other's migrations);
            // the public schema keeps the key earlier versions take, for rolling upgrades.
            if let schema {
                try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\("rrstore-migrations:" + schema), 7265712010))", logger: logger)
                // A stage's schema (a safe unquoted name: `Stage`); the connection's
                // search_path already names it.
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"), logger: logger)
            } else {
                try await connection.query("SELECT pg_advisory_xact_lock(7265712010)", logger: logger)
            }
            try await connection.query("CREATE TABLE IF NOT EXISTS rrstore_schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: StoreFormat.createTable), logger: logger)
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM rrstore_schema_migrations", logger: logger).decode(Int.self) {
                applied.insert(version)
            }
            var stored: Int?
            for try await format in try await connection.query("SELECT format FROM rrstore_format WHERE id = 1", logger: logger).decode(Int.self) {
                stored = format
            }
            try StoreFormat.check(stored: stored ?? 1, where: "\(target) (schema \(schema ?? "public"))")
            let migrations = MetadataSchema.migrations(.postgres)
            let pending = migrations.map(\.version).filter { !applied.contains($0) }.sorted()
            let plan = StoreFormat.plan(pending: pending, storedFormat: stored, isNew: applied.isEmpty, contract: contract)
            let now = WallClock.millisecondsSince1970()
            self.hasSummaryColumns.withLock {
                $0 = applied.contains(MetadataSchema.eventSummaryVersion) || plan.apply.contains(MetadataSchema.eventSummaryVersion)
            }
            for migration in migrations where plan.apply.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO rrstore_schema_migrations (version, applied_at) VALUES (\(migration.version), \(now))", logger: logger)
            }
            try await connection.query("""
                INSERT INTO rrstore_format (id, format, updated_at) VALUES (1, \(plan.format), \(now))
                ON CONFLICT (id) DO UPDATE SET format = EXCLUDED.format, updated_at = EXCLUDED.updated_at WHERE rrstore_format.format <> EXCLUDED.format
                """, logger: logger)
        }
    }

    public func storeFormat() async throws -> Int {
        try await firstInteger("SELECT format FROM rrstore_format WHERE id = 1", otherwise: 1)
    }

    public func schemaVersion() async throws -> Int {
        try await firstInteger("SELECT COALESCE(MAX(version), 0) FROM rrstore_schema_migrations", otherwise: 0)
    }

    /// The integer a one-value query answers, or `otherwise` when it answers no row.
    private func firstInteger(_ query: PostgresQuery, otherwise: Int) async throws -> Int {
        try await wrap { [self] in
            var result = otherwise
            for try await value in try await client.query(query, logger: logger).decode(Int.self) { result = value }
            return result
        }
    }

    // MARK: Recordings

    typealias RecordingRow = (String, String, Int64, String?, String?, Int, Int, Int64?, Int64?, String?, Int?)
    /// What `RecordingRow` reads: the summary columns are NULLs in a store without them.
    var recordingColumns: String {
        "tenant, id, created_at, screenshot_digest, screenshot_type, event_count, byte_count, "
            + (hasSummaryColumns.withLock { $0 } ? "started_at, ended_at, first_url, received_bytes" : "NULL::bigint, NULL::bigint, NULL::text, NULL::bigint")
    }

    static func recording(_ row: RecordingRow) -> RecordingRecord {
        RecordingRecord(tenant: row.0, id: row.1, createdAt: row.2, screenshot: row.3.flatMap { SHA256Digest(parsing: $0) },
                        screenshotType: row.4, eventCount: row.5, byteCount: row.6,
                        summary: EventSummary(firstTimestamp: row.7, lastTimestamp: row.8, firstURL: row.9), receivedBytes: row.10)
    }

    func recordings(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws -> [RecordingRecord] {
        let rows = if let connection { try await connection.query(query, logger: logger) } else { try await client.query(query, logger: logger) }
        var out: [RecordingRecord] = []
        for try await row in rows.decode(RecordingRow.self) { out.append(PostgresMetadataStore.recording(row)) }
        return out
    }

    public func createRecording(_ recording: RecordingRecord) async throws -> (record: RecordingRecord, created: Bool) {
        try await transaction { [self] connection in
            var created = false
            for try await _ in try await connection.query("""
                INSERT INTO recordings (tenant, id, created_at, screenshot_digest, screenshot_type)
                VALUES (\(recording.tenant), \(recording.id), \(recording.createdAt), \(recording.screenshot?.description), \(recording.screenshotType))
                ON CONFLICT (tenant, id) DO NOTHING RETURNING id
                """, logger: logger).decode(String.self) { created = true }
            let stored = try await recordings("SELECT \(unescaped: self.recordingColumns) FROM recordings WHERE tenant = \(recording.tenant) AND id = \(recording.id)", on: connection)
            return (stored[0], created)
        }
    }

    public func recording(tenant: String, id: String) async throws -> RecordingRecord? {
        try await wrap { [self] in
            try await recordings("SELECT \(unescaped: self.recordingColumns) FROM recordings WHERE tenant = \(tenant) AND id = \(id)").first
        }
    }

    public func listRecordings(tenant: String, limit: Int, after cursor: RecordingCursor?) async throws -> [RecordingRecord] {
        try await wrap { [self] in
            if let cursor {
                return try await recordings("""
                    SELECT \(unescaped: self.recordingColumns) FROM recordings
                    WHERE tenant = \(tenant) AND (created_at, id) < (\(cursor.createdAt), \(cursor.id))
                    ORDER BY created_at DESC, id DESC LIMIT \(limit)
                    """)
            }
            return try await recordings("""
                SELECT \(unescaped: self.recordingColumns) FROM recordings WHERE tenant = \(tenant)
                ORDER BY created_at DESC, id DESC LIMIT \(limit)
                """)
        }
    }

    public func setScreenshot(tenant: String, id: String, digest: SHA256Digest, mediaType: String) async throws -> Bool {
        try await wrap { [self] in
            var updated = false
            for try await _ in try await client.query("""
                UPDATE recordings SET screenshot_digest = \(digest.description), screenshot_type = \(mediaType)
                WHERE tenant = \(tenant) AND id = \(id) RETURNING id
                """, logger: logger).decode(String.self) { updated = true }
            return updated
        }
    }

    public func deleteRecording(tenant: String, id: String) async throws -> DeletedRecording? {
        try await transaction { [self] connection in
            guard let existing = try await recordings("SELECT \(unescaped: self.recordingColumns) FROM recordings WHERE tenant = \(tenant) AND id = \(id) FOR UPDATE", on: connection).first else { return nil }
            var keys: [String] = []
            for try await key in try await connection.query("SELECT blob_key FROM chunks WHERE tenant = \(tenant) AND recording = \(id) ORDER BY sequence", logger: logger).decode(String.self) {
                keys.append(key)
            }
            for table in ["pending_events", "chunks", "recording_assets", "idempotency_keys"] {
                try await connection.query("DELETE FROM \(unescaped: table) WHERE tenant = \(tenant) AND recording = \(id)", logger: logger)
            }
            try await connection.query("DELETE FROM recordings WHERE tenant = \(tenant) AND id = \(id)", logger: logger)
            return DeletedRecording(chunkKeys: keys, screenshot: existing.screenshot)
        }
    }

    // MARK: Assets

    public func upsertAsset(_ asset: AssetRecord) async throws {
        try await wrap { [self] in
            try await client.query("""
                INSERT INTO assets (digest, size, media_type, kind, first_stored, last_touched, expanded_size)
                VALUES (\(asset.digest.description), \(asset.size), \(asset.mediaType), \(asset.kind.stored), \(asset.firstStored), \(asset.lastTouched), \(asset.expansion))
                ON CONFLICT (digest) DO UPDATE SET last_touched = GREATEST(assets.last_touched, excluded.last_touched),
                    expanded_size = COALESCE(assets.expanded_size, excluded.expanded_size)
                """, logger: logger)
        }
    }

    /// Inserts or touches many index rows in one statement (arrays through unnest).
    static func upsert(_ assets: [AssetRecord], on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO assets (digest, size, media_type, kind, first_stored, last_touched, expanded_size)
            SELECT * FROM unnest(\(assets.map(\.digest.description))::text[], \(assets.map(\.size))::bigint[],
                                 \(assets.map { $0.mediaType ?? "" })::text[], \(assets.map(\.kind.stored))::text[],
                                 \(assets.map(\.firstStored))::bigint[], \(assets.map(\.lastTouched))::bigint[],
                                 \(assets.map(\.expansion))::bigint[])
            ON CONFLICT (digest) DO UPDATE SET last_touched = GREATEST(assets.last_touched, excluded.last_touched),
                expanded_size = COALESCE(assets.expanded_size, excluded.expanded_size)
            """, logger: logger)
        // unnest cannot carry NULLs through a text[] bound from Swift: empty means none.
        try await connection.query("UPDATE assets SET media_type = NULL WHERE media_type = '' AND digest = ANY(\(assets.map(\.digest.description))::text[])", logger: logger)
    }

    public func registerUploads(_ assets: [AssetRecord], tenant: String) async throws {
        guard !assets.isEmpty else { return }
        try await transaction { [self] connection in
            try await PostgresMetadataStore.upsert(assets, on: connection, logger: logger)
            try await connection.query("""
                INSERT INTO asset_links (tenant, digest, linked_at)
                SELECT \(tenant), d, t FROM unnest(\(assets.map(\.digest.description))::text[], \(assets.map(\.lastTouched))::bigint[]) AS u(d, t)
                ON CONFLICT (tenant, digest) DO UPDATE SET linked_at = GREATEST(asset_links.linked_at, excluded.linked_at)
                """, logger: logger)
        }
    }

    public func linkedAsset(tenant: String, digest: SHA256Digest) async throws -> AssetRecord? {
        try await wrap { [self] in
            for try await row in try await client.query("""
                SELECT a.size, a.media_type, a.kind, a.first_stored, a.last_touched, a.expanded_size FROM assets a
                JOIN asset_links l ON l.digest = a.digest WHERE l.tenant = \(tenant) AND a.digest = \(digest.description)
                """, logger: logger).decode((Int, String?, String, Int64, Int64, Int?).self) {
                return AssetRecord(digest: digest, size: row.0, mediaType: row.1, kind: AssetRecord.Kind(stored: row.2), firstStored: row.3, lastTouched: row.4, expansion: row.5)
            }
            return nil
        }
    }

    public func linked(tenant: String, among digests: [SHA256Digest]) async throws -> Set<SHA256Digest> {
        guard !digests.isEmpty else { return [] }
        return try await wrap { [self] in
            var found = Set<SHA256Digest>()
            for try await digest in try await client.query("""
                SELECT digest FROM asset_links WHERE tenant = \(tenant) AND digest = ANY(\(digests.map(\.description))::text[])
                """, logger: logger).decode(String.self) {
                if let parsed = SHA256Digest(parsing: digest) { found.insert(parsed) }
            }
            return found
        }
    }

    public func linkedAssets(tenant: String, among digests: [SHA256Digest]) async throws -> [SHA256Digest: AssetRecord] {
        guard !digests.isEmpty else { return [:] }
        return try await wrap { [self] in
            var found: [SHA256Digest: AssetRecord] = [:]
            for try await row in try await client.query("""
                SELECT a.digest, a.size, a.media_type, a.kind, a.first_stored, a.last_touched, a.expanded_size
                FROM asset_links l JOIN assets a ON a.digest = l.digest
                WHERE l.tenant = \(tenant) AND l.digest = ANY(\(digests.map(\.description))::text[])
                """, logger: logger).decode((String, Int, String?, String, Int64, Int64, Int?).self) {
                if let digest = SHA256Digest(parsing: row.0) {
                    found[digest] = AssetRecord(digest: digest, size: row.1, mediaType: row.2, kind: AssetRecord.Kind(stored: row.3), firstStored: row.4, lastTouched: row.5, expansion: row.6)
                }
            }
            return found
        }
    }

    public func forgetIndexedAsset(_ digest: SHA256Digest) async throws {
        try await transaction { [self] connection in
            try await connection.query("DELETE FROM assets WHERE digest = \(digest.description)", logger: logger)
            try await connection.query("DELETE FROM pack_entries WHERE digest = \(digest.description)", logger: logger)
        }
    }

    public func references(tenant: String, recording: String) async throws -> Set<SHA256Digest> {
        try await wrap { [self] in
            var found = Set<SHA256Digest>()
            for try await digest in try await client.query("SELECT digest FROM recording_assets WHERE tenant = \(tenant) AND recording = \(recording)", logger: logger).decode(String.self) {
                if let parsed = SHA256Digest(parsing: digest) { found.insert(parsed) }
            }
            return found
        }
    }

    // MARK: Ingest

    public func appendEvents(tenant: String, recording: String, events: [[UInt8]], received: Int?, assets: [SHA256Digest], newAssets: [AssetRecord],
                             idempotencyKey: String?, requestDigest: SHA256Digest?, at time: Int64) async throws -> AppendOutcome {
        // Read before the transaction: its connection and row lock are not held for parsing.
        let summary = hasSummaryColumns.withLock { $0 } ? EventSummary(events: events) : nil
        return try await transaction { [self] connection in
            // Lock the recording's row: appends to one recording are serialized across instances.
            var first: Int?
            for try await count in try await connection.query("SELECT event_count FROM recordings WHERE tenant = \(tenant) AND id = \(recording) FOR UPDATE", logger: logger).decode(Int.self) {
                first = count
            }
            guard let first else { throw RRStoreError(.recordingNotFound, "no recording '\(recording)'") }
            if let idempotencyKey {
                for try await row in try await connection.query("""
                    SELECT first_sequence, event_count, body_digest FROM idempotency_keys WHERE tenant = \(tenant) AND recording = \(recording) AND key = \(idempotencyKey)
                    """, logger: logger).decode((Int, Int, String?).self) {
                    try IdempotencyKeys.check(idempotencyKey, stored: row.2, against: requestDigest)
                    return .duplicate(firstSequence: row.0, count: row.1)
                }
            }
            var bytes = 0
            // One statement per 1,000 events (arrays through unnest), not a round trip each.
            for start in stride(from: 0, to: events.count, by: 1000) {
                let slice = events[start..<min(start + 1000, events.count)]
                let bodies = slice.map { ByteBuffer(bytes: $0) }
                let sequences = Array((first + start)..<(first + start + slice.count))
                bytes += slice.reduce(0) { $0 + $1.count }
                try await connection.query("""
                    INSERT INTO pending_events (tenant, recording, sequence, body, received_at)
                    SELECT \(tenant), \(recording), s, b, \(time) FROM unnest(\(sequences)::bigint[], \(bodies)::bytea[]) AS t(s, b)
                    """, logger: logger)
            }
            if !newAssets.isEmpty { try await PostgresMetadataStore.upsert(newAssets, on: connection, logger: logger) }
            let digests = Set(assets).map(\.description)
            if !digests.isEmpty {
                try await connection.query("""
                    INSERT INTO asset_links (tenant, digest, linked_at) SELECT \(tenant), d, \(time) FROM unnest(\(digests)::text[]) AS t(d)
                    ON CONFLICT (tenant, digest) DO UPDATE SET linked_at = GREATEST(asset_links.linked_at, excluded.linked_at)
                    """, logger: logger)
                try await connection.query("""
                    INSERT INTO recording_assets (tenant, recording, digest) SELECT \(tenant), \(recording), d FROM unnest(\(digests)::text[]) AS t(d)
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
            }
            if let summary {
                // Bytes received are counted from a recording's first event (NULL, unknown,
                // for one that had events before the column); LEAST/GREATEST skip NULLs.
                try await connection.query("""
                    UPDATE recordings SET event_count = event_count + \(events.count), byte_count = byte_count + \(bytes),
                        received_bytes = CASE WHEN event_count = 0 THEN 0 ELSE received_bytes END + \(received ?? bytes),
                        started_at = LEAST(started_at, \(summary.firstTimestamp)::bigint), ended_at = GREATEST(ended_at, \(summary.lastTimestamp)::bigint),
                        first_url = COALESCE(first_url, \(summary.firstURL)::text)
                    WHERE tenant = \(tenant) AND id = \(recording)
                    """, logger: logger)
            } else {
                try await connection.query("""
                    UPDATE recordings SET event_count = event_count + \(events.count), byte_count = byte_count + \(bytes)
                    WHERE tenant = \(tenant) AND id = \(recording)
                    """, logger: logger)
            }
            if let idempotencyKey {
                try await connection.query("""
                    INSERT INTO idempotency_keys (tenant, recording, key, first_sequence, event_count, created_at, body_digest)
                    VALUES (\(tenant), \(recording), \(idempotencyKey), \(first), \(events.count), \(time), \(requestDigest?.description))
                    """, logger: logger)
            }
            return .appended(firstSequence: first, count: events.count)
        }
    }

    public func pendingEvents(tenant: String, recording: String, from: Int, limit: Int) async throws -> [PendingEvent] {
        try await wrap { [self] in
            var out: [PendingEvent] = []
            for try await row in try await client.query("""
                SELECT sequence, body FROM pending_events WHERE tenant = \(tenant) AND recording = \(recording) AND sequence >= \(from)
                ORDER BY sequence LIMIT \(limit)
                """, logger: logger).decode((Int, ByteBuffer).self) {
                out.append(PendingEvent(sequence: row.0, bytes: Array(row.1.readableBytesView)))
            }
            return out
        }
    }

    public func commitChunk(_ chunk: ChunkRecord) async throws {
        try await transaction { [self] connection in
            let inserted = try await connection.query("""
                INSERT INTO chunks (tenant, recording, sequence, blob_key, first_event, event_count, byte_count, stored_bytes)
                VALUES (\(chunk.tenant), \(chunk.recording), \(chunk.sequence), \(chunk.blobKey), \(chunk.firstEvent), \(chunk.eventCount), \(chunk.byteCount), \(chunk.storedBytes))
                ON CONFLICT DO NOTHING RETURNING sequence
                """, logger: logger).collect().count
            guard inserted == 1 else { throw RRStoreError.chunkConflict(chunk) }
            let deleted = try await connection.query("""
                DELETE FROM pending_events WHERE tenant = \(chunk.tenant) AND recording = \(chunk.recording)
                AND sequence >= \(chunk.firstEvent) AND sequence < \(chunk.firstEvent + chunk.eventCount) RETURNING sequence
                """, logger: logger).collect().count
            guard deleted == chunk.eventCount else { throw RRStoreError.chunkConflict(chunk) }
        }
    }

    public func flushCandidates(minBytes: Int, oldestBefore: Int64, newestBefore: Int64, limit: Int) async throws -> [PendingSummary] {
        try await wrap { [self] in
            var out: [PendingSummary] = []
            for try await row in try await client.query("""
                SELECT tenant, recording, COUNT(*)::bigint, SUM(octet_length(body))::bigint, MIN(received_at)
                FROM pending_events GROUP BY tenant, recording
                HAVING SUM(octet_length(body)) >= \(minBytes) OR MIN(received_at) <= \(oldestBefore) OR MAX(received_at) <= \(newestBefore)
                ORDER BY MIN(received_at) LIMIT \(limit)
                """, logger: logger).decode((String, String, Int, Int, Int64).self) {
                out.append(PendingSummary(tenant: row.0, recording: row.1, events: row.2, bytes: row.3, oldestReceived: row.4))
            }
            return out
        }
    }

    public func chunks(tenant: String, recording: String) async throws -> [ChunkRecord] {
        try await wrap { [self] in
            var out: [ChunkRecord] = []
            for try await row in try await client.query("""
                SELECT sequence, blob_key, first_event, event_count, byte_count, stored_bytes FROM chunks
                WHERE tenant = \(tenant) AND recording = \(recording) ORDER BY sequence
                """, logger: logger).decode((Int, String, Int, Int, Int, Int).self) {
                out.append(ChunkRecord(tenant: tenant, recording: recording, sequence: row.0, blobKey: row.1, firstEvent: row.2,
                                       eventCount: row.3, byteCount: row.4, storedBytes: row.5))
            }
            return out
        }
    }
}

extension String {
    /// Decodes %XX escapes (for passwords in URLs); invalid escapes are kept as they are.
    func removingPercentEncoding() -> String {
        var bytes: [UInt8] = []
        var iterator = Array(utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
               let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Waiters suspend until `open()`; after that, `wait()` returns at once.
final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        if state.withLock({ $0.isOpen }) { return }
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.isOpen { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
