import Foundation
import GRDB
import RRStoreCore

// SQLite has one writer at a time: every touch and every sweep are serialized by it.
extension SQLiteMetadataStore {
    public func touchAssets(_ digests: [SHA256Digest], at time: Int64, resolution: Int64) async throws -> Set<SHA256Digest> {
        guard !digests.isEmpty else { return [] }
        // Most touches find the row touched within the resolution. A read answers those
        // beside other readers; only rows to move forward take SQLite's one writer (every
        // have-set, repeated upload and event batch with references made a write
        // transaction before). A row read as fresh is safe from the collector, whose
        // cutoff leaves out the resolution (`GarbageCollector`).
        let unique = Array(Set(digests))
        let lastTouched = try await read { db in
            var found: [SHA256Digest: Int64] = [:]
            for digest in unique {
                found[digest] = try Int64.fetchOne(db, sql: "SELECT last_touched FROM assets WHERE digest = ?", arguments: [digest.sqliteValue])
            }
            return found
        }
        let fresh = Set(lastTouched.filter { $0.value >= time - resolution }.keys)
        let stale = lastTouched.keys.filter { !fresh.contains($0) }
        guard !stale.isEmpty else { return fresh }
        return try await fresh.union(write { db in
            var indexed = Set<SHA256Digest>()
            for digest in stale {
                try db.execute(sql: "UPDATE assets SET last_touched = ? WHERE digest = ? AND last_touched < ?",
                               arguments: [time, digest.sqliteValue, time - resolution])
                if try db.changesCount > 0 || Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM assets WHERE digest = ?)", arguments: [digest.sqliteValue]) == true {
                    indexed.insert(digest)
                }
            }
            return indexed
        })
    }

    public func referencedDigests(after: SHA256Digest?, limit: Int) async throws -> [SHA256Digest] {
        try await read { db in
            var found = try Data.fetchAll(db, sql: """
                SELECT DISTINCT digest FROM recording_assets WHERE digest > ? ORDER BY digest LIMIT ?
                """, arguments: [after?.sqliteValue ?? Data(), limit]).compactMap(SHA256Digest.init(sqliteValue:))
            // Screenshots are kept in text form; few, so all of the page's range is read.
            let upper = found.count == limit ? found.last : nil
            let shots = try String.fetchAll(db, sql: "SELECT DISTINCT screenshot_digest FROM recordings WHERE screenshot_digest IS NOT NULL")
                .compactMap { SHA256Digest(parsing: $0) }
                .filter { shot in (after.map { shot > $0 } ?? true) && (upper.map { shot <= $0 } ?? true) }
            found = Array(Set(found + shots)).sorted()
            return found
        }
    }

    public func indexedAssets(after: SHA256Digest?, limit: Int) async throws -> [IndexedAsset] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM assets WHERE digest > ? ORDER BY digest LIMIT ?",
                             arguments: [after?.sqliteValue ?? Data(), limit]).compactMap(SQLiteMetadataStore.indexed)
        }
    }

    public func assetsTouched(since time: Int64) async throws -> [IndexedAsset] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM assets WHERE last_touched >= ?", arguments: [time]).compactMap(SQLiteMetadataStore.indexed)
        }
    }

    static func indexed(_ row: Row) -> IndexedAsset? {
        guard let digest = SHA256Digest(sqliteValue: row["digest"] as Data) else { return nil }
        let size: Int = row["size"], expansion: Int? = row["expanded_size"]
        return IndexedAsset(digest: digest, size: size, kind: AssetRecord.Kind(stored: row["kind"]), lastTouched: row["last_touched"],
                            mayReference: expansion.map { $0 > size } ?? true)
    }

    public func sweepAssets(_ digests: [SHA256Digest], touchedBefore cutoff: Int64, guardSince: Int64,
                            marked: Set<SHA256Digest>) async throws -> SweepOutcome {
        try await write { db in
            let touched = try Row.fetchAll(db, sql: "SELECT * FROM assets WHERE last_touched >= ?", arguments: [guardSince])
                .compactMap(SQLiteMetadataStore.indexed).filter { !marked.contains($0.digest) }
            guard touched.isEmpty else { return .touchedSinceMark(touched) }
            var deleted: [DeletedAsset] = []
            for digest in digests {
                let key = digest.sqliteValue
                guard let row = try Row.fetchOne(db, sql: """
                    SELECT a.size, a.kind, (SELECT pack FROM pack_entries p WHERE p.digest = a.digest) AS pack,
                           EXISTS (SELECT 1 FROM staged_assets s WHERE s.digest = a.digest) AS staged
                    FROM assets a WHERE a.digest = ? AND a.last_touched < ?
                    AND NOT EXISTS (SELECT 1 FROM recording_assets r WHERE r.digest = a.digest)
                    AND NOT EXISTS (SELECT 1 FROM recordings c WHERE c.screenshot_digest = ?)
                    """, arguments: [key, cutoff, digest.description]) else { continue }
                for table in ["assets", "pack_entries", "staged_assets", "asset_links"] {
                    try db.execute(sql: "DELETE FROM \(table) WHERE digest = ?", arguments: [key])
                }
                deleted.append(DeletedAsset(digest: digest, size: row["size"], kind: AssetRecord.Kind(stored: row["kind"]),
                                            pack: row["pack"], staged: row["staged"]))
            }
            return .deleted(deleted)
        }
    }

    public func packLiveness() async throws -> [PackLiveness] {
        try await read { db in
            var live: [String: (Int, Int)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT pack, COUNT(*) AS n, SUM(entry_length) AS bytes FROM pack_entries GROUP BY pack") {
                live[row["pack"]] = (row["n"], row["bytes"])
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM packs ORDER BY created_at, id").map { row in
                let pack = PackRecord(id: row["id"], tenant: row["tenant"], createdAt: row["created_at"], storedBytes: row["stored_bytes"],
                                      entryCount: row["entry_count"])
                return PackLiveness(pack: pack, liveEntries: live[pack.id]?.0 ?? 0, liveBytes: live[pack.id]?.1 ?? 0)
            }
        }
    }

    public func movePackEntries(_ entries: [PackEntry], from oldPack: String, to newPack: PackRecord) async throws -> Int {
        try await write { db in
            try Self.insertPackRow(newPack, db)
            var moved = 0
            for entry in entries {
                try db.execute(sql: """
                    UPDATE pack_entries SET pack = ?, block_offset = ?, block_length = ?, block_encoding = ?, entry_offset = ?, entry_length = ?
                    WHERE digest = ? AND pack = ?
                    """, arguments: [entry.pack, entry.blockOffset, entry.blockLength, entry.blockEncoding.rawValue, entry.offset, entry.length,
                                     entry.digest.sqliteValue, oldPack])
                moved += db.changesCount
            }
            return moved
        }
    }

    public func dropPackIfEmpty(_ id: String) async throws -> Bool {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM pack_entries WHERE pack = ?)", arguments: [id]) == false else { return false }
            try db.execute(sql: "DELETE FROM packs WHERE id = ?", arguments: [id])
            return true
        }
    }

    public func chunkKeys(after: String?, limit: Int) async throws -> [String] {
        try await read { db in
            try String.fetchAll(db, sql: "SELECT blob_key FROM chunks WHERE blob_key > ? ORDER BY blob_key LIMIT ?", arguments: [after ?? "", limit])
        }
    }

    public func acquireLease(_ name: String, holder: String, now: Int64, seconds: Int) async throws -> Bool {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
                """, arguments: [name, holder, now + Int64(seconds) * 1000, now])
            return db.changesCount > 0
        }
    }

    public func releaseLease(_ name: String, holder: String) async throws {
        try await write { db in try db.execute(sql: "DELETE FROM leases WHERE name = ? AND holder = ?", arguments: [name, holder]) }
    }

    public func recordings(createdBefore time: Int64, tenant: String?, except: Set<String>, limit: Int) async throws -> [RecordingRecord] {
        try await read { db in
            var sql = "SELECT * FROM recordings WHERE created_at < ?"
            var arguments: [any DatabaseValueConvertible] = [time]
            if let tenant {
                sql += " AND tenant = ?"
                arguments.append(tenant)
            } else if !except.isEmpty {
                sql += " AND tenant NOT IN (\(Array(repeating: "?", count: except.count).joined(separator: ",")))"
                arguments += except.sorted()
            }
            arguments.append(limit)
            return try Row.fetchAll(db, sql: sql + " ORDER BY created_at LIMIT ?", arguments: StatementArguments(arguments))
                .map(SQLiteMetadataStore.recording)
        }
    }

    public func usage(tenant: String) async throws -> TenantUsage {
        // Bytes as received where counted (schema 8); before that, what was kept of them.
        let received = hasSummaryColumns.withLock { $0 } ? "COALESCE(received_bytes, byte_count)" : "byte_count"
        return try await read { db in
            var usage = TenantUsage()
            if let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS n, COALESCE(SUM(event_count), 0) AS events, COALESCE(SUM(\(received)), 0) AS bytes FROM recordings WHERE tenant = ?
                """, arguments: [tenant]) {
                (usage.recordings, usage.events, usage.rawBytes) = (row["n"], row["events"], row["bytes"])
            }
            usage.chunkBytes = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(stored_bytes), 0) FROM chunks WHERE tenant = ?", arguments: [tenant]) ?? 0
            if let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS n, COALESCE(SUM(a.size), 0) AS bytes,
                       COALESCE(SUM(CASE WHEN (SELECT COUNT(*) FROM recording_assets r WHERE r.tenant = l.tenant AND r.digest = l.digest) > 1
                                    THEN a.size ELSE 0 END), 0) AS shared
                FROM asset_links l JOIN assets a ON a.digest = l.digest WHERE l.tenant = ?
                """, arguments: [tenant]) {
                (usage.assets, usage.assetBytes, usage.sharedAssetBytes) = (row["n"], row["bytes"], row["shared"])
            }
            return usage
        }
    }

    public func recordingAssets(tenant: String, recording: String) async throws -> [RecordingAsset] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT r.digest AS digest, a.kind AS kind, a.size AS size,
                       (SELECT COUNT(*) FROM recording_assets o WHERE o.tenant = r.tenant AND o.digest = r.digest) AS n
                FROM recording_assets r JOIN assets a ON a.digest = r.digest
                WHERE r.tenant = ? AND r.recording = ? ORDER BY a.size DESC, r.digest
                """, arguments: [tenant, recording]).compactMap { row in
                guard let digest = SHA256Digest(sqliteValue: row["digest"] as Data) else { return nil }
                return RecordingAsset(digest: digest, kind: AssetRecord.Kind(stored: row["kind"]), size: row["size"], recordings: row["n"])
            }
        }
    }
}
