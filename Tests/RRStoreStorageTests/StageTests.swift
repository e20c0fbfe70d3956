import Foundation
import GRDB
import RRStoreCore
@testable import RRStoreStorage
import Testing

/// Release stages (issue 14): stages share a bucket and a database server (or a data
/// directory) without seeing each other; `stage delete` removes one stage only; a store at
/// a newer format is refused, saying what to do.
@Suite struct StageTests {
    enum Stores: String, CaseIterable, CustomTestStringConvertible {
        case embedded, s3Postgres
        var testDescription: String { rawValue }
        static var available: [Stores] { S3TestServers.available && PostgresTestServer.available ? [.embedded, .s3Postgres] : [.embedded] }
    }

    static let environment = ["AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"]

    /// One bucket and one database (or one data directory) for all the stages of a test.
    static func sharedConfiguration(_ stores: Stores) async throws -> StorageConfiguration {
        var configuration = StorageConfiguration()
        configuration.dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-stages-\(UUID().uuidString)").path
        if stores == .s3Postgres {
            let endpoint = try S3TestServers.require(S3TestServers.endpoint, "RRSTORE_TEST_S3_ENDPOINT")
            let bucket = S3TestServers.bucketName()
            _ = try await S3TestServers.store(endpoint: endpoint, bucket: bucket)
            let base = try S3TestServers.require(PostgresTestServer.url, "RRSTORE_TEST_POSTGRES_URL")
            let url = String(base[..<(base.lastIndex(of: "/") ?? base.endIndex)]) + "/rrstore_stages_\(UUID().uuidString.lowercased().prefix(8))"
            try await PostgresMetadataStore.createDatabaseIfMissing(url: url)
            configuration.blobBackend = .s3
            configuration.s3Endpoint = endpoint
            configuration.s3Bucket = bucket
            configuration.s3Prefix = "shared"
            configuration.metadataBackend = .postgres
            configuration.postgresURL = url
        }
        return configuration
    }

    static func staged(_ configuration: StorageConfiguration, _ name: String?) throws -> StorageConfiguration {
        var staged = configuration
        staged.stage = try name.map(Stage.init)
        return staged
    }

    /// What one stage holds: a recording and a blob, both saying which stage they are.
    static func write(_ configuration: StorageConfiguration, mark: String) async throws {
        let blobs = try configuration.makeBlobStore(environment: environment)
        _ = try await blobs.put(try BlobKey("marks/mark"), bytes: Array(mark.utf8))
        try await configuration.withMetadataStore { store in
            _ = try await store.createRecording(RecordingRecord(tenant: "t", id: "same-id", createdAt: Int64(mark.utf8.count)))
            _ = try await store.appendEvents(tenant: "t", recording: "same-id", events: [Array(mark.utf8)], idempotencyKey: nil, at: 1)
        }
    }

    /// What one stage sees: its blob's bytes and its recording's pending events (nil: none).
    static func read(_ configuration: StorageConfiguration) async throws -> (blob: String?, events: [String], blobCount: Int) {
        let blobs = try configuration.makeBlobStore(environment: environment)
        let blob = try? await blobs.get(try BlobKey("marks/mark"))
        let count = try await blobs.listAll(prefix: "").count
        let events = try await configuration.withMetadataStore { store in
            try await store.pendingEvents(tenant: "t", recording: "same-id", limit: 10).map { String(decoding: $0.bytes, as: UTF8.self) }
        }
        return (blob.map { String(decoding: $0, as: UTF8.self) }, events, count)
    }

    @Test(arguments: Stores.available)
    func stagesShareStoresWithoutSeeingEachOtherAndDeleteRemovesOne(stores: Stores) async throws {
        let shared = try await Self.sharedConfiguration(stores)
        defer { try? FileManager.default.removeItem(atPath: shared.dataDirectory) }
        for name in [nil, "pr-1", "pr-2"] { try await Self.write(try Self.staged(shared, name), mark: "stage \(name ?? "default")") }
        for name in [nil, "pr-1", "pr-2"] {
            let seen = try await Self.read(try Self.staged(shared, name))
            #expect(seen.blob == "stage \(name ?? "default")" && seen.events == ["stage \(name ?? "default")"], "\(name ?? "default")")
            // The default stage's listing holds its own keys, not the stages' under it.
            #expect(seen.blobCount == 1, "\(name ?? "default") lists only its own blobs")
        }
        let catalog = StageCatalog(shared, environment: Self.environment)
        let listed = try await catalog.list()
        #expect(listed.map(\.stage.name) == ["pr-1", "pr-2"])
        #expect(listed.allSatisfy { $0.inBlobStore && $0.inMetadataStore && $0.format == StoreFormat.current })

        let (removed, hadMetadata) = try await catalog.delete(try Stage("pr-1"))
        #expect(removed >= 1 && hadMetadata)
        #expect(try await catalog.list().map(\.stage.name) == ["pr-2"])
        let gone = try await Self.read(try Self.staged(shared, "pr-1"))
        #expect(gone.blob == nil && gone.events.isEmpty && gone.blobCount == 0, "pr-1 starts over empty")
        for name in [nil, "pr-2"] {
            let kept = try await Self.read(try Self.staged(shared, name))
            #expect(kept.blob == "stage \(name ?? "default")" && kept.events == ["stage \(name ?? "default")"], "\(name ?? "default") is untouched")
        }
    }

    @Test func stageNamesAreSafeEverywhere() throws {
        for good in ["pr-123", "staging", "a", "0", String(repeating: "x", count: 40)] {
            let stage = try Stage(good)
            #expect(Stage.fromSchema(stage.postgresSchema) == stage)
        }
        for bad in ["", "-pr", "PR-1", "pr_1", "pr/1", "pr.1", "a b", "ü", String(repeating: "x", count: 41), "x;drop"] {
            #expect(throws: RRStoreError.self, "\(bad)") { try Stage(bad) }
        }
    }

    /// A store a newer release migrated is refused with a message saying what to do.
    @Test(arguments: Stores.available)
    func aStoreAtANewerFormatIsRefused(stores: Stores) async throws {
        let configuration = try Self.staged(try await Self.sharedConfiguration(stores), "format-test")
        defer { try? FileManager.default.removeItem(atPath: configuration.dataDirectory) }
        try await Self.write(configuration, mark: "x")
        let newer = StoreFormat.current + 1
        switch stores {
        case .embedded:
            let queue = try DatabaseQueue(path: configuration.sqlitePath)
            try await queue.write { try $0.execute(sql: "UPDATE rrstore_format SET format = ?", arguments: [newer]) }
        case .s3Postgres:
            let psql = Process()
            psql.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            psql.arguments = ["psql", try #require(configuration.postgresURL), "-qc", "UPDATE rrstore_stage_format_test.rrstore_format SET format = \(newer)"]
            try psql.run()
            psql.waitUntilExit()
            #expect(psql.terminationStatus == 0)
        }
        let error = await #expect(throws: RRStoreError.self) {
            try await configuration.withMetadataStore { _ in }
        }
        #expect(error?.code == StoreFormat.newerFormat)
        #expect(error?.message.contains("format \(newer), newer than this rrstore knows (format \(StoreFormat.current))") == true, "\(String(describing: error))")
        let listed = try await StageCatalog(configuration, environment: Self.environment).list()
        #expect(listed.first { $0.stage.name == "format-test" }?.format == newer)
    }

    /// Expand migrations go at start; a contract migration waits for `rrstore migrate`
    /// (unless the store is new), and brings its format.
    @Test func contractMigrationsWaitForMigrate() {
        let contract = [5: 2]
        let waiting = StoreFormat.plan(pending: [4, 5, 6], storedFormat: 1, isNew: false, contract: false, contractMigrations: contract)
        #expect(waiting.apply == [4] && waiting.format == 1 && waiting.waiting == 5)
        let migrated = StoreFormat.plan(pending: [4, 5, 6], storedFormat: 1, isNew: false, contract: true, contractMigrations: contract)
        #expect(migrated.apply == [4, 5, 6] && migrated.format == 2 && migrated.waiting == nil)
        let fresh = StoreFormat.plan(pending: [1, 2, 3], storedFormat: nil, isNew: true, contract: false, contractMigrations: [:])
        #expect(fresh.apply == [1, 2, 3] && fresh.format == StoreFormat.current)
        #expect(throws: RRStoreError.self) { try StoreFormat.check(stored: StoreFormat.current + 1, where: "here") }
        #expect(throws: Never.self) { try StoreFormat.check(stored: StoreFormat.current, where: "here") }
    }
}
