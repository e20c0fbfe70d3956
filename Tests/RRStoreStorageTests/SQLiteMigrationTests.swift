import Foundation
import GRDB
import RRStoreCore
@testable import RRStoreStorage
import Testing

/// A database written by the first schema (text digests, rowid tables) keeps every asset,
/// link and reference through the migration to 32-byte digest keys.
@Suite struct SQLiteMigrationTests {
    @Test func versionOneDatabaseMigratesWithItsData() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-migrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("metadata.sqlite").path
        let digests = (0..<600).map { SHA256Digest.hash(Array("asset \($0)".utf8)) }
        do {
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in
                try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
                for statement in MetadataSchema.migrations(.sqlite)[0].statements { try db.execute(sql: statement) }
                try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v1')")
                try db.execute(sql: "INSERT INTO recordings (tenant, id, created_at) VALUES ('t', 'r', 1)")
                for (i, digest) in digests.enumerated() {
                    try db.execute(sql: "INSERT INTO assets VALUES (?, ?, ?, 'tree', 5, 6)", arguments: [digest.description, i, i % 2 == 0 ? nil : "text/css"])
                    if i % 3 == 0 { try db.execute(sql: "INSERT INTO asset_links VALUES ('t', ?, 7)", arguments: [digest.description]) }
                    if i % 5 == 0 { try db.execute(sql: "INSERT INTO recording_assets VALUES ('t', 'r', ?)", arguments: [digest.description]) }
                }
            }
        }
        let store = try await SQLiteMetadataStore(path: path)
        // A start applies the expand steps; the contract one (format 2) waits for `rrstore migrate`.
        #expect(try await store.schemaVersion() == 3)
        #expect(try await store.storeFormat() == 1)
        try await store.migrate(contract: true)
        #expect(try await store.schemaVersion() == MetadataSchema.currentVersion)
        #expect(try await store.storeFormat() == StoreFormat.current)
        let linked = Set(digests.enumerated().filter { $0.offset % 3 == 0 }.map(\.element))
        #expect(try await store.linked(tenant: "t", among: digests) == linked)
        #expect(Set(try await store.linkedAssets(tenant: "t", among: digests).keys) == linked, "every linked row's index row migrated")
        #expect(try await store.references(tenant: "t", recording: "r") == Set(digests.enumerated().filter { $0.offset % 5 == 0 }.map(\.element)))
        let record = try #require(try await store.linkedAsset(tenant: "t", digest: digests[3]))
        #expect(record == AssetRecord(digest: digests[3], size: 3, mediaType: "text/css", kind: .tree, firstStored: 5, lastTouched: 6))
        #expect(try await store.linkedAsset(tenant: "t", digest: digests[1]) == nil, "not linked before, not linked after")
        // New rows go in the new form beside the migrated ones.
        let fresh = SHA256Digest.hash([1, 2, 3])
        try await store.registerUpload(AssetRecord(digest: fresh, size: 3, mediaType: nil, kind: .upload, firstStored: 9, lastTouched: 9), tenant: "t")
        #expect(try await store.linked(tenant: "t", among: [fresh, digests[0], digests[1]]) == [fresh, digests[0]])
    }
}
