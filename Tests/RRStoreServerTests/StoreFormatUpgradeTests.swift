import Foundation
import GRDB
import Logging
import RRStoreCore
@testable import RRStoreServer
import RRStoreStorage
import Testing

/// The first contract step (format 2: event chunks in zstd) goes as the README's upgrade
/// procedure says: a store a format-1 release left keeps getting gzip chunks from the new
/// release until `rrstore migrate`; then new chunks are zstd, and both read back.
@Suite struct StoreFormatUpgradeTests {
    @Test func aFormatOneStoreGetsGzipChunksUntilMigrateThenZstd() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-format-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/metadata.sqlite"
        // The store as a format-1 release left it: schema versions 1–3, format 1.
        _ = try await SQLiteMetadataStore(path: path)
        try await DatabaseQueue(path: path).write { db in
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v4'")
            try db.execute(sql: "UPDATE rrstore_format SET format = 1")
        }
        let metadata = try await SQLiteMetadataStore(path: path)
        #expect(try await metadata.storeFormat() == 1, "a start applies no contract step")
        let state = ServerState(configuration: ServerConfiguration(), blobs: try FileBlobStore(root: directory + "/blobs"),
                                metadata: metadata, logger: Logger(label: "test"))
        _ = try await metadata.createRecording(RecordingRecord(tenant: "t", id: "r", createdAt: 1))
        let event = { (n: Int) in Array(#"{"type":3,"data":{"source":1,"x":\#(n)},"timestamp":\#(n)}"#.utf8) }

        _ = try await metadata.appendEvents(tenant: "t", recording: "r", events: (0..<3).map(event), idempotencyKey: nil, at: 1)
        #expect(await Flusher(state: state).flushDue(final: true) == 1)
        #expect(try await metadata.chunks(tenant: "t", recording: "r").map { ChunkEncoding(key: $0.blobKey) } == [.gzip])

        try await metadata.migrate(contract: true)  // rrstore migrate
        #expect(try await metadata.storeFormat() == 2)
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
}
