import NIOCore
import PostgresNIO
import RRStoreCore

extension PostgresMetadataStore {
    public func touchAssets(_ digests: [SHA256Digest], at time: Int64, resolution: Int64) async throws -> Set<SHA256Digest> {
        guard !digests.isEmpty else { return [] }
        let texts = Array(Set(digests.map(\.description)))
        return try await transaction { [self] connection in
            // The update takes the row locks (and the table lock) a sweep waits for; rows
            // touched a moment ago are only read.
            try await connection.query("""
                UPDATE assets SET last_touched = \(time) WHERE digest = ANY(\(texts)::text[]) AND last_touched < \(time - resolution)
                """, logger: logger)
            var indexed = Set<SHA256Digest>()
            for try await digest in try await connection.query("SELECT digest FROM assets WHERE digest = ANY(\(texts)::text[])", logger: logger)
                .decode(String.self) {
                if let parsed = SHA256Digest(parsing: digest) { indexed.insert(parsed) }
            }
            return indexed
        }
    }

    public func referencedDigests(after: SHA256Digest?, limit: Int) async throws -> [SHA256Digest] {
        try await wrap { [self] in
            var found = Set<SHA256Digest>()
            let from = after?.description ?? ""
            for try await digest in try await client.query("""
                SELECT digest FROM (SELECT DISTINCT digest FROM recording_assets WHERE digest > \(from)
                    UNION SELECT DISTINCT screenshot_digest FROM recordings WHERE screenshot_digest > \(from)) d
                ORDER BY digest LIMIT \(limit)
                """, logger: logger).decode(String.self) {
                if let parsed = SHA256Digest(parsing: digest) { found.insert(parsed) }
            }
            return found.sorted()
        }
    }

    private typealias IndexedRow = (String, Int, String, Int64, Int?)
    private static let indexedColumns = "digest, size, kind, last_touched, expanded_size"

    private static func indexed(_ row: IndexedRow) -> IndexedAsset? {
        guard let digest = SHA256Digest(parsing: row.0) else { return nil }
        return IndexedAsset(digest: digest, size: row.1, kind: AssetRecord.Kind(stored: row.2), lastTouched: row.3,
                            mayReference: row.4.map { $0 > row.1 } ?? true)
    }

    private func indexedRows(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws -> [IndexedAsset] {
        let rows = if let connection { try await connection.query(query, logger: logger) } else { try await client.query(query, logger: logger) }
        var out: [IndexedAsset] = []
        for try await row in rows.decode(IndexedRow.self) { if let asset = Self.indexed(row) { out.append(asset) } }
        return out
    }

    public func indexedAssets(after: SHA256Digest?, limit: Int) async throws -> [IndexedAsset] {
        try await wrap { [self] in
            try await indexedRows("""
                SELECT \(unescaped: Self.indexedColumns) FROM assets WHERE digest > \(after?.description ?? "") ORDER BY digest LIMIT \(limit)
                """)
        }
    }

    public func assetsTouched(since time: Int64) async throws -> [IndexedAsset] {
        try await wrap { [self] in try await indexedRows("SELECT \(unescaped: Self.indexedColumns) FROM assets WHERE last_touched >= \(time)") }
    }

    public func sweepAssets(_ digests: [SHA256Digest], touchedBefore cutoff: Int64, guardSince: Int64,
                            marked: Set<SHA256Digest>) async throws -> SweepOutcome {
        try await transaction { [self] connection in
            // Waits for every transaction that touched or inserted assets to end, and holds
            // new ones off until this one does: all touches so far are visible below.
            try await connection.query("LOCK TABLE assets IN SHARE ROW EXCLUSIVE MODE", logger: logger)
            let touched = try await indexedRows("SELECT \(unescaped: Self.indexedColumns) FROM assets WHERE last_touched >= \(guardSince)",
                                                on: connection).filter { !marked.contains($0.digest) }
            guard touched.isEmpty else { return .touchedSinceMark(touched) }
            let texts = digests.map(\.description)
            var deleted: [DeletedAsset] = []
            for try await row in try await connection.query("""
                DELETE FROM assets a WHERE a.digest = ANY(\(texts)::text[]) AND a.last_touched < \(cutoff)
                AND NOT EXISTS (SELECT 1 FROM recording_assets r WHERE r.digest = a.digest)
                AND NOT EXISTS (SELECT 1 FROM recordings c WHERE c.screenshot_digest = a.digest)
                RETURNING a.digest, a.size, a.kind,
                    (SELECT pack FROM pack_entries p WHERE p.digest = a.digest),
                    EXISTS (SELECT 1 FROM staged_assets s WHERE s.digest = a.digest)
                """, logger: logger).decode((String, Int, String, String?, Bool).self) {
                guard let digest = SHA256Digest(parsing: row.0) else { continue }
                deleted.append(DeletedAsset(digest: digest, size: row.1, kind: AssetRecord.Kind(stored: row.2), pack: row.3, staged: row.4))
            }
            let gone = deleted.map(\.digest.description)
            if !gone.isEmpty {
                try await connection.query("DELETE FROM pack_entries WHERE digest = ANY(\(gone)::text[])", logger: logger)
                try await connection.query("DELETE FROM staged_assets WHERE digest = ANY(\(gone)::text[])", logger: logger)
                try await connection.query("DELETE FROM asset_links WHERE digest = ANY(\(gone)::text[])", logger: logger)
            }
            return .deleted(deleted)
        }
    }

    public func packLiveness() async throws -> [PackLiveness] {
        try await wrap { [self] in
            var out: [PackLiveness] = []
            for try await row in try await client.query("""
                SELECT p.id, p.tenant, p.created_at, p.stored_bytes, p.entry_count, COALESCE(e.n, 0)::bigint, COALESCE(e.bytes, 0)::bigint
                FROM packs p LEFT JOIN (SELECT pack, COUNT(*) AS n, SUM(entry_length) AS bytes FROM pack_entries GROUP BY pack) e ON e.pack = p.id
                ORDER BY p.created_at, p.id
                """, logger: logger).decode((String, String, Int64, Int, Int, Int, Int).self) {
                out.append(PackLiveness(pack: PackRecord(id: row.0, tenant: row.1, createdAt: row.2, storedBytes: row.3, entryCount: row.4),
                                        liveEntries: row.5, liveBytes: row.6))
            }
            return out
        }
    }

    public func movePackEntries(_ entries: [PackEntry], from oldPack: String, to newPack: PackRecord) async throws -> Int {
        try await transaction { [self] connection in
            try await insertPackRow(newPack, on: connection)
            guard !entries.isEmpty else { return 0 }
            return try await connection.query("""
                UPDATE pack_entries p SET pack = \(newPack.id), block_offset = t.bo, block_length = t.bl, block_encoding = t.be,
                    entry_offset = t.eo, entry_length = t.el
                FROM unnest(\(entries.map(\.digest.description))::text[], \(entries.map(\.blockOffset))::bigint[],
                    \(entries.map(\.blockLength))::bigint[], \(entries.map(\.blockEncoding.rawValue))::text[],
                    \(entries.map(\.offset))::bigint[], \(entries.map(\.length))::bigint[]) AS t(d, bo, bl, be, eo, el)
                WHERE p.digest = t.d AND p.pack = \(oldPack) RETURNING p.digest
                """, logger: logger).collect().count
        }
    }

    public func dropPackIfEmpty(_ id: String) async throws -> Bool {
        try await wrap { [self] in
            try await client.query("""
                DELETE FROM packs WHERE id = \(id) AND NOT EXISTS (SELECT 1 FROM pack_entries WHERE pack = \(id)) RETURNING id
                """, logger: logger).collect().count > 0
        }
    }

    public func chunkKeys(after: String?, limit: Int) async throws -> [String] {
        try await wrap { [self] in
            var out: [String] = []
            for try await key in try await client.query("""
                SELECT blob_key FROM chunks WHERE blob_key > \(after ?? "") ORDER BY blob_key LIMIT \(limit)
                """, logger: logger).decode(String.self) { out.append(key) }
            return out
        }
    }

    public func acquireLease(_ name: String, holder: String, now: Int64, seconds: Int) async throws -> Bool {
        try await wrap { [self] in
            try await client.query("""
                INSERT INTO leases (name, holder, expires_at) VALUES (\(name), \(holder), \(now + Int64(seconds) * 1000))
                ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                WHERE leases.holder = excluded.holder OR leases.expires_at <= \(now) RETURNING name
                """, logger: logger).collect().count > 0
        }
    }

    public func releaseLease(_ name: String, holder: String) async throws {
        try await wrap { [self] in try await client.query("DELETE FROM leases WHERE name = \(name) AND holder = \(holder)", logger: logger) }
    }

    public func recordings(createdBefore time: Int64, tenant: String?, except: Set<String>, limit: Int) async throws -> [RecordingRecord] {
        try await wrap { [self] in
            if let tenant {
                return try await recordings("""
                    SELECT \(unescaped: self.recordingColumns) FROM recordings WHERE tenant = \(tenant) AND created_at < \(time)
                    ORDER BY created_at LIMIT \(limit)
                    """)
            }
            return try await recordings("""
                SELECT \(unescaped: self.recordingColumns) FROM recordings WHERE created_at < \(time) AND NOT (tenant = ANY(\(except.sorted())::text[]))
                ORDER BY created_at LIMIT \(limit)
                """)
        }
    }

    public func usage(tenant: String) async throws -> TenantUsage {
        // Bytes as received where counted (schema 8); before that, what was kept of them.
        let received = hasSummaryColumns.withLock { $0 } ? "COALESCE(received_bytes, byte_count)" : "byte_count"
        return try await wrap { [self] in
            var usage = TenantUsage()
            for try await row in try await client.query("""
                SELECT COUNT(*)::bigint, COALESCE(SUM(event_count), 0)::bigint, COALESCE(SUM(\(unescaped: received)), 0)::bigint FROM recordings WHERE tenant = \(tenant)
                """, logger: logger).decode((Int, Int, Int).self) {
                (usage.recordings, usage.events, usage.rawBytes) = row
            }
            for try await bytes in try await client.query("SELECT COALESCE(SUM(stored_bytes), 0)::bigint FROM chunks WHERE tenant = \(tenant)",
                                                          logger: logger).decode(Int.self) {
                usage.chunkBytes = bytes
            }
            for try await row in try await client.query("""
                SELECT COUNT(*)::bigint, COALESCE(SUM(a.size), 0)::bigint,
                       COALESCE(SUM(CASE WHEN (SELECT COUNT(*) FROM recording_assets r WHERE r.tenant = l.tenant AND r.digest = l.digest) > 1
                                    THEN a.size ELSE 0 END), 0)::bigint
                FROM asset_links l JOIN assets a ON a.digest = l.digest WHERE l.tenant = \(tenant)
                """, logger: logger).decode((Int, Int, Int).self) {
                (usage.assets, usage.assetBytes, usage.sharedAssetBytes) = row
            }
            return usage
        }
    }

    public func recordingAssets(tenant: String, recording: String) async throws -> [RecordingAsset] {
        try await wrap { [self] in
            var found: [RecordingAsset] = []
            for try await row in try await client.query("""
                SELECT r.digest, a.kind, a.size::bigint,
                       (SELECT COUNT(*) FROM recording_assets o WHERE o.tenant = r.tenant AND o.digest = r.digest)::bigint
                FROM recording_assets r JOIN assets a ON a.digest = r.digest
                WHERE r.tenant = \(tenant) AND r.recording = \(recording) ORDER BY a.size DESC, r.digest
                """, logger: logger).decode((String, String, Int, Int).self) {
                guard let digest = SHA256Digest(parsing: row.0) else { continue }
                found.append(RecordingAsset(digest: digest, kind: AssetRecord.Kind(stored: row.1), size: row.2, recordings: row.3))
            }
            return found
        }
    }
}
