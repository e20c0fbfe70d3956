import NIOCore
import PostgresNIO
import RRStoreCore

extension PostgresMetadataStore {
    public func stageAssets(_ assets: [StagedAsset]) async throws -> (count: Int, bytes: Int) {
        guard !assets.isEmpty else { return (0, 0) }
        return try await transaction { [self] connection in
            var staged = (count: 0, bytes: 0)
            for asset in assets {
                try await connection.query("""
                    INSERT INTO staged_assets (digest, tenant, body, size, compressible, staged_at)
                    VALUES (\(asset.digest.description), \(asset.tenant), \(ByteBuffer(bytes: asset.bytes)), \(asset.bytes.count),
                            \(asset.compressible ? 1 : 0), \(asset.stagedAt))
                    ON CONFLICT (digest) DO UPDATE SET body = excluded.body, size = excluded.size
                    """, logger: logger)
                staged.count += 1
                staged.bytes += asset.bytes.count
            }
            return staged
        }
    }

    public func assetLocation(_ digest: SHA256Digest) async throws -> AssetLocation? {
        try await wrap { [self] in
            // One statement, one snapshot: a pack indexed meanwhile cannot hide both rows.
            let rows = try await client.query("""
                SELECT pack, block_offset, block_length, block_encoding, entry_offset, entry_length, NULL::bytea FROM pack_entries WHERE digest = \(digest.description)
                UNION ALL SELECT NULL, 0, 0, '', 0, 0, body FROM staged_assets WHERE digest = \(digest.description)
                LIMIT 1
                """, logger: logger).decode((String?, Int, Int, String, Int, Int, ByteBuffer?).self)
            for try await row in rows {
                if let pack = row.0 {
                    return .packed(try Self.packEntry(digest, pack: pack, (row.1, row.2, row.3, row.4, row.5)))
                }
                return row.6.map { .staged(Array($0.readableBytesView)) }
            }
            return nil
        }
    }

    static func packEntry(_ digest: SHA256Digest, pack: String, _ row: (Int, Int, String, Int, Int)) throws -> PackEntry {
        guard let encoding = PackBlockEncoding(rawValue: row.2) else {
            throw RRStoreError(.database, "pack \(pack) has a block in '\(row.2)', an encoding this rrstore does not know")
        }
        return PackEntry(digest: digest, pack: pack, blockOffset: row.0, blockLength: row.1, blockEncoding: encoding,
                         offset: row.3, length: row.4)
    }

    public func stagedTenants(minBytes: Int, oldestBefore: Int64, limit: Int) async throws -> [StagedSummary] {
        try await wrap { [self] in
            var out: [StagedSummary] = []
            for try await row in try await client.query("""
                SELECT tenant, COUNT(*)::bigint, SUM(size)::bigint, MIN(staged_at) FROM staged_assets GROUP BY tenant
                HAVING SUM(size) >= \(minBytes) OR MIN(staged_at) <= \(oldestBefore) ORDER BY 4 LIMIT \(limit)
                """, logger: logger).decode((String, Int, Int, Int64).self) {
                out.append(StagedSummary(tenant: row.0, count: row.1, bytes: row.2, oldestStaged: row.3))
            }
            return out
        }
    }

    public func stagedAssets(tenant: String, maxBytes: Int) async throws -> [StagedAsset] {
        try await wrap { [self] in
            var out: [StagedAsset] = []
            // The running total picks the rows that fit without reading the others' bodies.
            for try await row in try await client.query("""
                SELECT s.digest, s.body, s.compressible, s.staged_at,
                       EXISTS (SELECT 1 FROM pack_entries p WHERE p.digest = s.digest) FROM staged_assets s JOIN (
                    SELECT digest, SUM(size) OVER (ORDER BY staged_at, digest) - size AS before FROM staged_assets WHERE tenant = \(tenant)
                ) t ON t.digest = s.digest WHERE t.before < \(max(maxBytes, 1)) ORDER BY s.staged_at, s.digest
                """, logger: logger).decode((String, ByteBuffer, Int, Int64, Bool).self) {
                guard let digest = SHA256Digest(parsing: row.0) else { continue }
                out.append(StagedAsset(digest: digest, tenant: tenant, bytes: Array(row.1.readableBytesView), compressible: row.2 != 0,
                                       stagedAt: row.3, packed: row.4))
            }
            return out
        }
    }

    public func dropStaged(packed digests: [SHA256Digest]) async throws {
        guard !digests.isEmpty else { return }
        try await wrap { [self] in
            try await client.query("""
                DELETE FROM staged_assets s WHERE s.digest = ANY(\(digests.map(\.description))::text[])
                AND EXISTS (SELECT 1 FROM pack_entries p WHERE p.digest = s.digest)
                """, logger: logger)
        }
    }

    /// A pack's row, unless it is there (an index pass or a rewrite retried).
    func insertPackRow(_ pack: PackRecord, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO packs (id, tenant, created_at, stored_bytes, entry_count)
            VALUES (\(pack.id), \(pack.tenant), \(pack.createdAt), \(pack.storedBytes), \(pack.entryCount)) ON CONFLICT (id) DO NOTHING
            """, logger: logger)
    }

    public func indexPack(_ pack: PackRecord, entries: [PackEntry]) async throws -> Int {
        try await transaction { [self] connection in
            try await insertPackRow(pack, on: connection)
            guard !entries.isEmpty else { return 0 }
            let digests = entries.map(\.digest.description)
            let indexed = try await connection.query("""
                INSERT INTO pack_entries (digest, pack, block_offset, block_length, block_encoding, entry_offset, entry_length)
                SELECT d, \(pack.id), bo, bl, be, eo, el FROM unnest(\(digests)::text[], \(entries.map(\.blockOffset))::bigint[],
                    \(entries.map(\.blockLength))::bigint[], \(entries.map(\.blockEncoding.rawValue))::text[],
                    \(entries.map(\.offset))::bigint[], \(entries.map(\.length))::bigint[]) AS t(d, bo, bl, be, eo, el)
                ON CONFLICT (digest) DO NOTHING RETURNING digest
                """, logger: logger).collect().count
            try await connection.query("DELETE FROM staged_assets WHERE digest = ANY(\(digests)::text[])", logger: logger)
            return indexed
        }
    }

    public func packEntries(pack: String) async throws -> [PackEntry] {
        try await wrap { [self] in
            var out: [PackEntry] = []
            for try await row in try await client.query("""
                SELECT digest, block_offset, block_length, block_encoding, entry_offset, entry_length FROM pack_entries
                WHERE pack = \(pack) ORDER BY block_offset, entry_offset
                """, logger: logger).decode((String, Int, Int, String, Int, Int).self) {
                guard let digest = SHA256Digest(parsing: row.0) else { continue }
                out.append(try Self.packEntry(digest, pack: pack, (row.1, row.2, row.3, row.4, row.5)))
            }
            return out
        }
    }

    public func packs() async throws -> [PackRecord] {
        try await wrap { [self] in
            var out: [PackRecord] = []
            for try await row in try await client.query("SELECT id, tenant, created_at, stored_bytes, entry_count FROM packs ORDER BY created_at, id",
                                                        logger: logger).decode((String, String, Int64, Int, Int).self) {
                out.append(PackRecord(id: row.0, tenant: row.1, createdAt: row.2, storedBytes: row.3, entryCount: row.4))
            }
            return out
        }
    }
}
