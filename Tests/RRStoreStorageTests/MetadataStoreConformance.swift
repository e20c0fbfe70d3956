import Foundation
import RRStoreCore
@testable import RRStoreStorage
import Testing

/// One suite every MetadataStore must pass. `tenant` keeps runs on a shared database apart.
struct MetadataStoreConformance<Store: MetadataStore> {
    let store: Store
    let tenant: String
    var other: String { tenant + "-other" }

    func run() async throws {
        try await migrationsAreIdempotent()
        try await recordingsAreIdempotentScopedAndPaginated()
        try await appendsAreOrderedAtomicAndIdempotent()
        try await concurrentAppendsGetDistinctContiguousNumbers()
        try await chunksReplacePendingEvents()
        try await flushCandidatesAndCompetingFlushers()
        try await appendsLinkTheirAssetsOnlyOnce()
        try await assetsLinksAndReferences()
        try await deletingARecordingTakesEverythingOfItsOwn()
    }

    func migrationsAreIdempotent() async throws {
        try await store.migrate()
        try await store.migrate()
        #expect(try await store.schemaVersion() >= 1)
    }

    func recordingsAreIdempotentScopedAndPaginated() async throws {
        let first = try await store.createRecording(RecordingRecord(tenant: tenant, id: "rec-a", createdAt: 1000))
        #expect(first.created)
        let again = try await store.createRecording(RecordingRecord(tenant: tenant, id: "rec-a", createdAt: 5000))
        #expect(!again.created)
        #expect(again.record.createdAt == 1000, "the first creation wins")
        #expect(try await store.recording(tenant: other, id: "rec-a") == nil, "another tenant does not see it")
        _ = try await store.createRecording(RecordingRecord(tenant: other, id: "rec-a", createdAt: 7))
        #expect(try await store.recording(tenant: other, id: "rec-a")?.createdAt == 7, "ids are per tenant")

        for i in 0..<7 { _ = try await store.createRecording(RecordingRecord(tenant: tenant, id: "list-\(i)", createdAt: 2000 + Int64(i % 3))) }
        var seen: [String] = []
        var cursor: RecordingCursor?
        while true {
            let page = try await store.listRecordings(tenant: tenant, limit: 3, after: cursor)
            seen += page.map(\.id)
            guard page.count == 3, let last = page.last else { break }
            cursor = last.cursor
        }
        #expect(seen == ["list-5", "list-2", "list-4", "list-1", "list-6", "list-3", "list-0", "rec-a"], "newest first, ties by id, no repeats")
        #expect(try await store.setScreenshot(tenant: tenant, id: "rec-a", digest: SHA256Digest.hash([1]), mediaType: "image/png"))
        #expect(try await !store.setScreenshot(tenant: tenant, id: "missing", digest: SHA256Digest.hash([1]), mediaType: "image/png"))
        #expect(try await store.recording(tenant: tenant, id: "rec-a")?.screenshot == SHA256Digest.hash([1]))
    }

    func appendsAreOrderedAtomicAndIdempotent() async throws {
        _ = try await store.createRecording(RecordingRecord(tenant: tenant, id: "ingest", createdAt: 1))
        let batch1: [[UInt8]] = [Array("{\"a\":1}".utf8), Array("{\"b\":2}".utf8)]
        #expect(try await store.appendEvents(tenant: tenant, recording: "ingest", events: batch1, idempotencyKey: "k1", at: 10) == .appended(firstSequence: 0, count: 2))
        #expect(try await store.appendEvents(tenant: tenant, recording: "ingest", events: batch1, idempotencyKey: "k1", at: 11) == .duplicate(firstSequence: 0, count: 2))
        #expect(try await store.appendEvents(tenant: tenant, recording: "ingest", events: [Array("{\"c\":3}".utf8)], idempotencyKey: nil, at: 12) == .appended(firstSequence: 2, count: 1))
        let pending = try await store.pendingEvents(tenant: tenant, recording: "ingest", limit: 100)
        #expect(pending.map(\.sequence) == [0, 1, 2])
        #expect(pending.map(\.bytes) == batch1 + [Array("{\"c\":3}".utf8)])
        let record = try await store.recording(tenant: tenant, id: "ingest")
        #expect(record?.eventCount == 3)
        #expect(record?.byteCount == 21)
        await #expect { try await store.appendEvents(tenant: tenant, recording: "nope", events: batch1, idempotencyKey: nil, at: 1) } throws: {
            ($0 as? RRStoreError)?.code == .recordingNotFound
        }
        await #expect { try await store.appendEvents(tenant: other, recording: "ingest", events: batch1, idempotencyKey: nil, at: 1) } throws: {
            ($0 as? RRStoreError)?.code == .recordingNotFound
        }
        // The same key on another recording is another batch.
        _ = try await store.createRecording(RecordingRecord(tenant: tenant, id: "ingest-2", createdAt: 1))
        #expect(try await store.appendEvents(tenant: tenant, recording: "ingest-2", events: batch1, idempotencyKey: "k1", at: 10) == .appended(firstSequence: 0, count: 2))
    }

    func concurrentAppendsGetDistinctContiguousNumbers() async throws {
        _ = try await store.createRecording(RecordingRecord(tenant: tenant, id: "race", createdAt: 1))
        let outcomes = try await withThrowingTaskGroup(of: AppendOutcome.self) { group in
            for i in 0..<16 {
                group.addTask {
                    try await store.appendEvents(tenant: tenant, recording: "race", events: [Array("{\"i\":\(i)}".utf8), Array("{\"j\":\(i)}".utf8)],
                                                 idempotencyKey: "batch-\(i % 8)", at: 1)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let appended = outcomes.compactMap { if case .appended(let first, _) = $0 { first } else { nil } }
        #expect(appended.count == 8, "each idempotency key counted once")
        #expect(appended.sorted() == Array(stride(from: 0, to: 16, by: 2)))
        let pending = try await store.pendingEvents(tenant: tenant, recording: "race", limit: 100)
        #expect(pending.map(\.sequence) == Array(0..<16))
    }

    func chunksReplacePendingEvents() async throws {
        _ = try await store.createRecording(RecordingRecord(tenant: tenant, id: "flush", createdAt: 1))
        _ = try await store.appendEvents(tenant: tenant, recording: "flush", events: (0..<5).map { Array("{\"n\":\($0)}".utf8) }, idempotencyKey: nil, at: 1)
        let chunk = ChunkRecord(tenant: tenant, recording: "flush", sequence: 0, blobKey: "rrweb/x/0.jsonl.gz", firstEvent: 0, eventCount: 3, byteCount: 21, storedBytes: 40)
        try await store.commitChunk(chunk)
        #expect(try await store.chunks(tenant: tenant, recording: "flush") == [chunk])
        #expect(try await store.pendingEvents(tenant: tenant, recording: "flush", limit: 10).map(\.sequence) == [3, 4])
        await #expect { try await store.commitChunk(chunk) } throws: { _ in true }
        #expect(try await store.pendingEvents(tenant: tenant, recording: "flush", limit: 10).map(\.sequence) == [3, 4], "a failed commit changes nothing")
    }

    func flushCandidatesAndCompetingFlushers() async throws {
        _ = try await store.createRecording(RecordingRecord(tenant: tenant, id: "due-size", createdAt: 1))
        _ = try await store.createRecording(RecordingRecord(tenant: tenant, id: "due-age", createdAt: 1))
        _ = try await store.appendEvents(tenant: tenant, recording: "due-size", events: [[UInt8](repeating: 65, count: 500)], idempotencyKey: nil, at: 1000)
        _ = try await store.appendEvents(tenant: tenant, recording: "due-age", events: [[1, 2, 3]], idempotencyKey: nil, at: 10)
        _ = try await store.appendEvents(tenant: tenant, recording: "due-age", events: [[4]], idempotencyKey: nil, at: 1000)
        func due(minBytes: Int, oldest: Int64, newest: Int64) async throws -> [String] {
            try await store.flushCandidates(minBytes: minBytes, oldestBefore: oldest, newestBefore: newest, limit: 100)
                .filter { $0.tenant == tenant && $0.recording.hasPrefix("due-") }.map(\.recording)
        }
        #expect(try await due(minBytes: 10_000, oldest: 0, newest: 0).isEmpty)
        #expect(try await due(minBytes: 500, oldest: 0, newest: 0) == ["due-size"])
        #expect(try await due(minBytes: 10_000, oldest: 10, newest: 0) == ["due-age"])
        #expect(try await due(minBytes: 10_000, oldest: 0, newest: 1000) == ["due-age", "due-size"], "most overdue first")
        let summary = try await store.flushCandidates(minBytes: 0, oldestBefore: 0, newestBefore: 0, limit: 100).first { $0.tenant == tenant && $0.recording == "due-age" }
        #expect(summary == PendingSummary(tenant: tenant, recording: "due-age", events: 2, bytes: 4, oldestReceived: 10))
        #expect(try await store.pendingEvents(tenant: tenant, recording: "due-age", from: 1, limit: 10).map(\.bytes) == [[4]])

        // Two flushers took the same events: the second commit changes nothing.
        let first = ChunkRecord(tenant: tenant, recording: "due-age", sequence: 0, blobKey: "a", firstEvent: 0, eventCount: 1, byteCount: 3, storedBytes: 3)
        let rival = ChunkRecord(tenant: tenant, recording: "due-age", sequence: 0, blobKey: "b", firstEvent: 0, eventCount: 2, byteCount: 4, storedBytes: 4)
        try await store.commitChunk(first)
        await #expect { try await store.commitChunk(rival) } throws: { ($0 as? RRStoreError)?.code == .conflict }
        let overlapping = ChunkRecord(tenant: tenant, recording: "due-age", sequence: 1, blobKey: "c", firstEvent: 0, eventCount: 2, byteCount: 4, storedBytes: 4)
        await #expect { try await store.commitChunk(overlapping) } throws: { ($0 as? RRStoreError)?.code == .conflict }
        #expect(try await store.chunks(tenant: tenant, recording: "due-age") == [first])
        #expect(try await store.pendingEvents(tenant: tenant, recording: "due-age", limit: 10).map(\.sequence) == [1])
    }

    func appendsLinkTheirAssetsOnlyOnce() async throws {
        let x = SHA256Digest.hash(Array("\(tenant) x".utf8))
        _ = try await store.createRecording(RecordingRecord(tenant: tenant, id: "linking", createdAt: 1))
        #expect(try await store.appendEvents(tenant: tenant, recording: "linking", events: [[1]], assets: [x, x], idempotencyKey: "k", at: 5) == .appended(firstSequence: 0, count: 1))
        #expect(try await store.linked(tenant: tenant, among: [x]) == [x])
        #expect(try await store.linked(tenant: other, among: [x]).isEmpty)
        #expect(try await store.references(tenant: tenant, recording: "linking") == [x])
        #expect(try await store.appendEvents(tenant: tenant, recording: "linking", events: [[1]], assets: [x], idempotencyKey: "k", at: 6) == .duplicate(firstSequence: 0, count: 1))
        await #expect { try await store.appendEvents(tenant: other, recording: "linking", events: [[1]], assets: [x], idempotencyKey: nil, at: 7) } throws: { _ in true }
        #expect(try await store.linked(tenant: other, among: [x]).isEmpty, "a failed append links nothing")

        // Index rows written with the events: new ones inserted, known ones touched.
        let y = SHA256Digest.hash(Array("\(tenant) y".utf8)), z = SHA256Digest.hash(Array("\(tenant) z".utf8))
        let rows = [AssetRecord(digest: y, size: 3, mediaType: nil, kind: .extracted(.text), firstStored: 8, lastTouched: 8),
                    AssetRecord(digest: z, size: 4, mediaType: "image/png", kind: .extracted(.dataURI), firstStored: 8, lastTouched: 8)]
        _ = try await store.appendEvents(tenant: tenant, recording: "linking", events: [[2]], assets: [y, z], newAssets: rows, idempotencyKey: nil, at: 8)
        let indexed = try await store.linkedAssets(tenant: tenant, among: [x, y, z])
        #expect(Set(indexed.keys) == [y, z], "x is linked but was never indexed: its bytes must be sent")
        #expect(indexed[y] == rows[0], "no media type stays none")
        #expect(indexed[z] == rows[1])
        #expect(try await store.linkedAsset(tenant: tenant, digest: z) == rows[1])
        #expect(try await store.linkedAsset(tenant: other, digest: z) == nil, "another tenant's link is not ours")

        let upload = AssetRecord(digest: x, size: 9, mediaType: "font/woff2", kind: .upload, firstStored: 9, lastTouched: 9)
        try await store.registerUpload(upload, tenant: other)
        #expect(try await store.linkedAsset(tenant: other, digest: x) == upload)
        #expect(try await store.linkedAssets(tenant: tenant, among: [x])[x] == upload, "indexed now, for every tenant linked to it")
    }

    func assetsLinksAndReferences() async throws {
        let a = SHA256Digest.hash(Array("\(tenant) a".utf8)), b = SHA256Digest.hash(Array("\(tenant) b".utf8))
        try await store.upsertAsset(AssetRecord(digest: a, size: 10, mediaType: "image/png", kind: .extracted(.dataURI), firstStored: 100, lastTouched: 100))
        try await store.upsertAsset(AssetRecord(digest: a, size: 10, mediaType: "image/png", kind: .extracted(.dataURI), firstStored: 999, lastTouched: 300))
        try await store.upsertAsset(AssetRecord(digest: a, size: 10, mediaType: "image/png", kind: .extracted(.dataURI), firstStored: 999, lastTouched: 200))
        #expect(try await store.linkedAsset(tenant: tenant, digest: a) == nil, "indexed is not linked")
        _ = try await store.createRecording(RecordingRecord(tenant: tenant, id: "ingest", createdAt: 1))
        _ = try await store.appendEvents(tenant: tenant, recording: "ingest", events: [[1]], assets: [a, b, a], idempotencyKey: nil, at: 5)
        _ = try await store.appendEvents(tenant: tenant, recording: "ingest", events: [[2]], assets: [a], idempotencyKey: nil, at: 6)
        let stored = try await store.linkedAsset(tenant: tenant, digest: a)
        #expect(stored?.firstStored == 100)
        #expect(stored?.lastTouched == 300, "touching only moves forward")
        // What a have-set or a repeated upload does: a row touched within the resolution is
        // left as it is (SQLite answers it with a read), a later touch moves it forward, and
        // only indexed digests are answered.
        let never = SHA256Digest.hash(Array("\(tenant) never stored".utf8))
        #expect(try await store.touchAssets([a, never, a], at: 1_000, resolution: 800) == [a])
        #expect(try await store.linkedAsset(tenant: tenant, digest: a)?.lastTouched == 300, "touched at 300, within 800 of 1,000")
        #expect(try await store.touchAssets([a], at: 1_200, resolution: 800) == [a])
        #expect(try await store.linkedAsset(tenant: tenant, digest: a)?.lastTouched == 1_200, "past the resolution: moved forward")
        #expect(try await store.touchAssets([never], at: 1_300, resolution: 0).isEmpty)
        #expect(stored?.mediaType == "image/png")
        #expect(stored?.kind == .extracted(.dataURI))
        #expect(try await store.linkedAsset(tenant: tenant, digest: b) == nil, "linked, never indexed")
        #expect(try await store.linked(tenant: tenant, among: [a, b]) == [a, b])
        #expect(try await store.linked(tenant: other, among: [a, b]).isEmpty, "links are per tenant")
        #expect(try await store.linked(tenant: tenant, among: []).isEmpty)
        let many = (0..<1200).map { SHA256Digest.hash(Array("\(tenant) many \($0)".utf8)) }
        _ = try await store.appendEvents(tenant: tenant, recording: "ingest", events: [[3]], assets: many, idempotencyKey: nil, at: 7)
        #expect(try await store.linked(tenant: tenant, among: many + [SHA256Digest.hash([7])]).count == 1200)
        #expect(try await store.references(tenant: tenant, recording: "ingest") == Set([a, b] + many))
    }

    func deletingARecordingTakesEverythingOfItsOwn() async throws {
        _ = try await store.createRecording(RecordingRecord(tenant: tenant, id: "doomed", createdAt: 1))
        _ = try await store.appendEvents(tenant: tenant, recording: "doomed", events: [[1], [2], [3]], idempotencyKey: "k", at: 1)
        try await store.commitChunk(ChunkRecord(tenant: tenant, recording: "doomed", sequence: 0, blobKey: "k0", firstEvent: 0, eventCount: 2, byteCount: 2, storedBytes: 2))
        _ = try await store.appendEvents(tenant: tenant, recording: "doomed", events: [[4]], assets: [SHA256Digest.hash([9])], idempotencyKey: nil, at: 1)
        #expect(try await store.references(tenant: tenant, recording: "doomed") == [SHA256Digest.hash([9])])
        #expect(try await store.deleteRecording(tenant: other, id: "doomed") == nil, "another tenant cannot delete it")
        let deleted = try await store.deleteRecording(tenant: tenant, id: "doomed")
        #expect(deleted?.chunkKeys == ["k0"])
        #expect(try await store.recording(tenant: tenant, id: "doomed") == nil)
        #expect(try await store.pendingEvents(tenant: tenant, recording: "doomed", limit: 10).isEmpty)
        #expect(try await store.chunks(tenant: tenant, recording: "doomed").isEmpty)
        #expect(try await store.references(tenant: tenant, recording: "doomed").isEmpty)
        #expect(try await store.deleteRecording(tenant: tenant, id: "doomed") == nil)
        // Recreated, it starts afresh: the old idempotency key is gone too.
        _ = try await store.createRecording(RecordingRecord(tenant: tenant, id: "doomed", createdAt: 2))
        #expect(try await store.appendEvents(tenant: tenant, recording: "doomed", events: [[1]], idempotencyKey: "k", at: 2) == .appended(firstSequence: 0, count: 1))
    }
}

enum PostgresTestServer {
    static var url: String? { ProcessInfo.processInfo.environment["RRSTORE_TEST_POSTGRES_URL"] }
    static var available: Bool { url != nil || ProcessInfo.processInfo.environment["CI"] == "true" }
}

@Suite struct MetadataStoreConformanceTests {
    @Test func sqlite() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-sqlite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("metadata.sqlite").path
        let store = try await SQLiteMetadataStore(path: path)
        try await MetadataStoreConformance(store: store, tenant: "t1").run()
        // Reopened, everything is still there.
        let reopened = try await SQLiteMetadataStore(path: path)
        #expect(try await reopened.pendingEvents(tenant: "t1", recording: "race", limit: 100).count == 16)
    }

    @Test(.enabled(if: PostgresTestServer.available, "needs PostgreSQL: run scripts/test.sh"))
    func postgres() async throws {
        guard let url = PostgresTestServer.url else {
            throw RRStoreError(.invalidConfiguration, "RRSTORE_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh, which starts PostgreSQL on loopback")
        }
        let store = try PostgresMetadataStore(url: url)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            // Two stores on one database: migrations race safely.
            let second = try PostgresMetadataStore(url: url)
            group.addTask { await second.run() }
            async let a: Void = store.migrate()
            async let b: Void = second.migrate()
            _ = try await (a, b)
            try await MetadataStoreConformance(store: store, tenant: "pg-\(UUID().uuidString.prefix(8))").run()
            group.cancelAll()
        }
    }

    /// An operation queued behind a lock ends at the store's deadline: the caller gets its
    /// error then, not when the lock is released (a cancelled query keeps waiting for it).
    @Test(.enabled(if: PostgresTestServer.available, "needs PostgreSQL: run scripts/test.sh"))
    func aQueryBehindALockEndsAtItsDeadline() async throws {
        guard let url = PostgresTestServer.url else {
            throw RRStoreError(.invalidConfiguration, "RRSTORE_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh, which starts PostgreSQL on loopback")
        }
        let schema = "rrstore_lock_\(UUID().uuidString.lowercased().prefix(8))"
        let holder = try PostgresMetadataStore(url: url, schema: schema)
        let store = try PostgresMetadataStore(url: url, schema: schema, operationTimeout: .seconds(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await holder.run() }
            group.addTask { await store.run() }
            try await holder.migrate()
            let (locked, lockedSink) = AsyncStream.makeStream(of: Void.self)
            group.addTask {
                try await holder.transaction { connection in
                    try await connection.query("LOCK TABLE recordings IN ACCESS EXCLUSIVE MODE", logger: holder.logger)
                    lockedSink.yield()
                    try await Task.sleep(for: .seconds(8))
                }
            }
            for await _ in locked { break }
            let start = ContinuousClock.now
            await #expect(throws: RRStoreError.self) { _ = try await store.recording(tenant: "t", id: "r") }
            let waited = ContinuousClock.now - start
            #expect(waited < .seconds(5), "the read waited \(waited) for a lock held 8 s; its deadline is 1 s")
            group.cancelAll()
        }
    }

    @Test func postgresURLsAreParsedOrRejected() throws {
        #expect(throws: RRStoreError.self) { try PostgresMetadataStore(url: "mysql://x@y/z") }
        #expect(throws: RRStoreError.self) { try PostgresMetadataStore(url: "postgres://host/db") }
        _ = try PostgresMetadataStore(url: "postgres://user:p%40ss@127.0.0.1:5433/rrstore")
    }
}
