import Foundation
import GRDB
import Logging
import RRStoreClient
import RRStoreCore
@testable import RRStoreServer
import RRStoreStorage
import Testing
import RRStoreTestSupport

/// The first contract step (format 2: event chunks in zstd) goes as the README's upgrade
/// procedure says: a store a format-1 release left keeps getting gzip chunks from the new
/// release until `rrstore migrate`; then new chunks are zstd, and both read back.
@Suite struct StoreFormatUpgradeTests {
    /// A SQLite store as a release at `format` left it: the migrations after `schemaVersion`
    /// undone (and the pack tables of version 5 dropped), then opened by this release, which
    /// applies the expand steps only.
    static func storeLeftBy(format: Int, schemaVersion: Int, in directory: String) async throws -> SQLiteMetadataStore {
        let path = directory + "/metadata.sqlite"
        _ = try await SQLiteMetadataStore(path: path)
        try await DatabaseQueue(path: path).write { db in
            for version in (schemaVersion + 1)...8 { try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v\(version)'") }
            if schemaVersion < 8 {
                for column in ["received_bytes", "started_at", "ended_at", "first_url"] { try db.execute(sql: "ALTER TABLE recordings DROP COLUMN \(column)") }
            }
            if schemaVersion < 7 {
                for statement in ["DROP INDEX assets_touched", "DROP INDEX recordings_created", "DROP TABLE leases"] { try db.execute(sql: statement) }
            }
            if schemaVersion < 5 { for table in ["staged_assets", "packs", "pack_entries"] { try db.execute(sql: "DROP TABLE \(table)") } }
            try db.execute(sql: "UPDATE rrstore_format SET format = \(format)")
        }
        return try await SQLiteMetadataStore(path: path)
    }

    @Test func aFormatOneStoreGetsGzipChunksUntilMigrateThenZstd() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-format-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The store as a format-1 release left it: schema versions 1–3, format 1.
        let metadata = try await Self.storeLeftBy(format: 1, schemaVersion: 3, in: directory)
        #expect(try await metadata.storeFormat() == 1, "a start applies no contract step")
        let state = ServerState(configuration: ServerConfiguration(), blobs: try FileBlobStore(root: directory + "/blobs"),
                                metadata: metadata, logger: Logger(label: "test"))
        _ = try await metadata.createRecording(RecordingRecord(tenant: "t", id: "r", createdAt: 1))
        let event = { (n: Int) in Array(#"{"type":3,"data":{"source":1,"x":\#(n)},"timestamp":\#(n)}"#.utf8) }

        _ = try await metadata.appendEvents(tenant: "t", recording: "r", events: (0..<3).map(event), idempotencyKey: nil, at: 1)
        #expect(await Flusher(state: state).flushDue(final: true) == 1)
        #expect(try await metadata.chunks(tenant: "t", recording: "r").map { ChunkEncoding(key: $0.blobKey) } == [.gzip])

        try await metadata.migrate(contract: true)  // rrstore migrate: every contract step since format 1
        #expect(try await metadata.storeFormat() == StoreFormat.current)
        _ = try await metadata.appendEvents(tenant: "t", recording: "r", events: (3..<6).map(event), idempotencyKey: nil, at: 2)
        #expect(await Flusher(state: state).flushDue(final: true) == 1)
        let chunks = try await metadata.chunks(tenant: "t", recording: "r")
        #expect(chunks.map { ChunkEncoding(key: $0.blobKey) } == [.gzip, .zstd], "the running instance switched without a restart")
        let stored = try await state.blobs.get(try BlobKey(chunks[1].blobKey))
        #expect(stored.starts(with: Zstd.magic))

        // A read sees the events counted when it begins: take the recording as it is now.
        let record = try #require(try await metadata.recording(tenant: "t", id: "r"))
        var reader = EventReader(state: state, mode: .inline, tenant: "t", record: record)
        var read: [UInt8] = []
        while let piece = try await reader.next() { read += piece }
        #expect(read == (0..<6).flatMap { event($0) + [0x0A] }, "both chunks read back byte for byte")

        // A flipped byte in the zstd chunk is an error naming it, not other events.
        var damaged = stored
        damaged[damaged.count - 6] ^= 0x20
        _ = try await state.blobs.put(try BlobKey(chunks[1].blobKey), bytes: damaged, expecting: nil, createOnly: false)
        var broken = EventReader(state: state, mode: .inline, tenant: "t", record: record)
        let error = await #expect(throws: RRStoreError.self) { while try await broken.next() != nil {} }
        #expect(error?.code == .corruptAsset && error?.message.contains(chunks[1].blobKey) == true, "\(String(describing: error))")
    }

    /// The second contract step (format 3: small assets staged and packed): a store a
    /// format-2 release left gets the pack tables at start (expand) but keeps getting one
    /// object per asset until `rrstore migrate`; then new small assets go to packs, and the
    /// old loose assets and the new packed ones read back alike.
    @Test func aFormatTwoStoreKeepsLooseAssetsUntilMigrateThenPacks() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-format3-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The store as a format-2 release left it: schema versions 1–4, format 2.
        let metadata = try await Self.storeLeftBy(format: 2, schemaVersion: 4, in: directory)
        #expect(try await metadata.storeFormat() == 2, "a start applies no contract step")
        #expect(try await metadata.schemaVersion() == 5, "… but the expand step that adds the pack tables")
        let blobs = try FileBlobStore(root: directory + "/blobs")
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.localTenant = "t"
        let state = ServerState(configuration: configuration, blobs: blobs, metadata: metadata, logger: Logger(label: "test"))
        @Sendable func event(_ n: Int) -> [UInt8] {
            Array(#"{"type":5,"data":{"tag":"t","payload":"\#(String(repeating: "asset \(n) text ", count: 300))"},"timestamp":\#(n)}"#.utf8)
        }
        let policy = configuration.pack
        try await withRunningServer(state: state) { port in
            let client = RRStoreClient(baseURL: "http://127.0.0.1:\(port)", retry: .init(attempts: 1))
            _ = try await client.createRecording(id: "r")
            _ = try await client.appendRawEvents("r", body: event(1))
            let loose = try await blobs.listAll(prefix: "assets/")
            #expect(loose.count == 1, "format 2: the asset is an object of its own")
            #expect(try await metadata.stagedTenants(minBytes: 0, oldestBefore: .max, limit: 10).isEmpty)
            #expect(try await metadata.recording(tenant: "t", id: "r")?.summary == EventSummary(),
                    "schema 8 (the list's summary) waits behind the contract step: appends work without it")

            try await metadata.migrate(contract: true)  // rrstore migrate
            #expect(try await metadata.storeFormat() == 3)
            try await Task.sleep(for: .milliseconds(2100))  // the instances' view of the format is at most 2 s old
            _ = try await client.appendRawEvents("r", body: event(2))
            #expect(try await metadata.recording(tenant: "t", id: "r")?.summary == EventSummary(firstTimestamp: 2, lastTimestamp: 2))
            #expect(try await blobs.listAll(prefix: "assets/").count == 1, "format 3: no new loose object…")
            #expect(try await metadata.stagedTenants(minBytes: 0, oldestBefore: .max, limit: 10).first?.count == 1, "… the asset is staged")
            let report = try await Packer(blobs: blobs, index: metadata, policy: policy).packDue(all: true, now: ServerState.now())
            #expect(report.packs == 1 && report.assets == 1)
            #expect(try await client.readEvents("r") == event(1) + [0x0A] + event(2) + [0x0A], "loose and packed assets read back alike")
        }
    }

    /// The whole path from the oldest layout: a store a format-1 release left (gzip chunks,
    /// every asset one object) is served by this release with every corpus session, brought
    /// to format 3 by `rrstore migrate`, and repacked; every session then reads back byte
    /// for byte, from gzip chunks and packs.
    @Test func aFormatOneStoreIsServedMigratedAndRepacked() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-format1-repack-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let metadata = try await Self.storeLeftBy(format: 1, schemaVersion: 3, in: directory)
        #expect(try await metadata.storeFormat() == 1)
        let blobs = try FileBlobStore(root: directory + "/blobs")
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.localTenant = "t"
        configuration.pack.level = 3  // as the other test servers (TestServer.swift)
        let state = ServerState(configuration: configuration, blobs: blobs, metadata: metadata, logger: Logger(label: "test"))
        let sessions = try Corpus.sessions()
        try await withRunningServer(state: state) { port in
            let client = RRStoreClient(baseURL: "http://127.0.0.1:\(port)", retry: .init(attempts: 1))
            for url in sessions {
                _ = try await client.createRecording(id: Corpus.recordingID(url))
                _ = try await client.appendRawEvents(Corpus.recordingID(url), body: Array(try Data(contentsOf: url)), gzipped: true)
            }
        }  // stopped gracefully: every pending event flushed, as gzip chunks
        #expect(try await blobs.listAll(prefix: "rrweb/").allSatisfy { $0.key.description.hasSuffix(".jsonl.gz") })
        let loose = try await blobs.listAll(prefix: "assets/sha256/")
        let packsBefore = try await blobs.listAll(prefix: "packs/")
        #expect(loose.count > 1000 && packsBefore.isEmpty, "format 1: every asset an object of its own")

        try await metadata.migrate(contract: true)  // rrstore migrate
        #expect(try await metadata.storeFormat() == 3)
        let report = try await Repacker(blobs: blobs, metadata: metadata, policy: configuration.pack).run()
        #expect(report.damaged.isEmpty && report.packed + report.large == loose.count && report.packs >= 1)
        #expect(try await blobs.listAll(prefix: "assets/sha256/").count == report.large)
        try await withRunningServer(state: ServerState(configuration: configuration, blobs: blobs, metadata: metadata, logger: Logger(label: "test"))) { port in
            let client = RRStoreClient(baseURL: "http://127.0.0.1:\(port)", retry: .init(attempts: 1))
            for url in sessions {
                let expected = try expectedNDJSON(try GzipDecoder.decompress(Array(try Data(contentsOf: url))))
                #expect(try await client.readEvents(Corpus.recordingID(url)) == expected, "\(Corpus.recordingID(url)) after migrate and repack")
            }
        }
    }
}
