import Foundation
import GRDB
import RRStoreCore

extension SQLiteMetadataStore {
    public func stageAssets(_ assets: [StagedAsset]) async throws -> (count: Int, bytes: Int) {
        guard !assets.isEmpty else { return (0, 0) }
        return try await write { db in
            var staged = (count: 0, bytes: 0)
            for asset in assets {
                try db.execute(sql: """
                    INSERT INTO staged_assets (digest, tenant, body, size, compressible, staged_at) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (digest) DO UPDATE SET body = excluded.body, size = excluded.size
                    """, arguments: [asset.digest.sqliteValue, asset.tenant, Data(asset.bytes), asset.bytes.count,
                                     asset.compressible ? 1 : 0, asset.stagedAt])
                if db.changesCount > 0 { staged.count += 1; staged.bytes += asset.bytes.count }
            }
            return staged
        }
    }

    public func assetLocation(_ digest: SHA256Digest) async throws -> AssetLocation? {
        try await read { db in
            // One statement, one snapshot: a pack indexed meanwhile cannot hide both rows.
            guard let row = try Row.fetchOne(db, sql: """
                SELECT pack, block_offset, block_length, block_encoding, entry_offset, entry_length, NULL AS body FROM pack_entries WHERE digest = ?
                UNION ALL SELECT NULL, 0, 0, '', 0, 0, body FROM staged_assets WHERE digest = ?
                LIMIT 1
                """, arguments: [digest.sqliteValue, digest.sqliteValue]) else { return nil }
            if let pack: String = row["pack"] {
                return .packed(try SQLiteMetadataStore.packEntry(digest, pack: pack, row))
            }
            return .staged([UInt8](row["body"] as Data))
        }
    }

    static func packEntry(_ digest: SHA256Digest, pack: String, _ row: Row) throws -> PackEntry {
        guard let encoding = PackBlockEncoding(rawValue: row["block_encoding"]) else {
            throw RRStoreError(.database, "pack \(pack) has a block in '\(row["block_encoding"] ?? "")', an encoding this rrstore does not know")
        }
        return PackEntry(digest: digest, pack: pack, blockOffset: row["block_offset"], blockLength: row["block_length"],
                         blockEncoding: encoding, offset: row["entry_offset"], length: row["entry_length"])
    }

    public func stagedTenants(minBytes: Int, oldestBefore: Int64, limit: Int) async throws -> [StagedSummary] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT tenant, COUNT(*) AS n, SUM(size) AS bytes, MIN(staged_at) AS oldest FROM staged_assets GROUP BY tenant
                HAVING SUM(size) >= ? OR MIN(staged_at) <= ? ORDER BY oldest LIMIT ?
                """, arguments: [minBytes, oldestBefore, limit]).map { row in
                StagedSummary(tenant: row["tenant"], count: row["n"], bytes: row["bytes"], oldestStaged: row["oldest"])
            }
        }
    }

    public func stagedAssets(tenant: String, maxBytes: Int) async throws -> [StagedAsset] {
        try await read { db in
            // The running total picks the rows that fit without reading the others' bodies.
            try Row.fetchAll(db, sql: """
                SELECT s.digest, s.body, s.compressible, s.staged_at,
                       EXISTS (SELECT 1 FROM pack_entries p WHERE p.digest = s.digest) AS packed FROM staged_assets s JOIN (
                    SELECT digest, SUM(size) OVER (ORDER BY staged_at, digest) - size AS before FROM staged_assets WHERE tenant = ?
                ) t ON t.digest = s.digest WHERE t.before < ? ORDER BY s.staged_at, s.digest
                """, arguments: [tenant, max(maxBytes, 1)]).compactMap { row in
                guard let digest = SHA256Digest(sqliteValue: row["digest"] as Data) else { return nil }
                return StagedAsset(digest: digest, tenant: tenant, bytes: [UInt8](row["body"] as Data),
                                   compressible: (row["compressible"] as Int) != 0, stagedAt: row["staged_at"], packed: row["packed"])
            }
        }
    }

    public func dropStaged(packed digests: [SHA256Digest]) async throws {
        guard !digests.isEmpty else { return }
        try await write { db in
            for digest in digests {
                try db.execute(sql: "DELETE FROM staged_assets WHERE digest = ? AND EXISTS (SELECT 1 FROM pack_entries WHERE digest = ?)",
                               arguments: [digest.sqliteValue, digest.sqliteValue])
            }
        }
    }

    /// A pack's row, unless it is there (an index pass or a rewrite retried).
    static func insertPackRow(_ pack: PackRecord, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO packs (id, tenant, created_at, stored_bytes, entry_count) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING
            """, arguments: [pack.id, pack.tenant, pack.createdAt, pack.storedBytes, pack.entryCount])
    }

    public func indexPack(_ pack: PackRecord, entries: [PackEntry]) async throws -> Int {
        try await write { db in
            try Self.insertPackRow(pack, db)
            var indexed = 0
            for entry in entries {
                try db.execute(sql: """
                    INSERT INTO pack_entries (digest, pack, block_offset, block_length, block_encoding, entry_offset, entry_length)
                    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING
                    """, arguments: [entry.digest.sqliteValue, entry.pack, entry.blockOffset, entry.blockLength, entry.blockEncoding.rawValue,
                                     entry.offset, entry.length])
                indexed += db.changesCount
                try db.execute(sql: "DELETE FROM staged_assets WHERE digest = ?", arguments: [entry.digest.sqliteValue])
            }
            return indexed
        }
    }

    public func packEntries(pack: String) async throws -> [PackEntry] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM pack_entries WHERE pack = ? ORDER BY block_offset, entry_offset", arguments: [pack]).compactMap { row in
                guard let digest = SHA256Digest(sqliteValue: row["digest"] as Data) else { return nil }
                return try SQLiteMetadataStore.packEntry(digest, pack: pack, row)
            }
        }
    }

    public func packs() async throws -> [PackRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM packs ORDER BY created_at, id").map { row in
                PackRecord(id: row["id"], tenant: row["tenant"], createdAt: row["created_at"], storedBytes: row["stored_bytes"],
                           entryCount: row["entry_count"])
            }
        }
    }
}
