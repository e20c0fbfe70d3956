import Foundation
import Logging
import RRStoreCore

/// The release stages that a storage configuration's stores hold (whatever its own
/// `stage`), and removing one with everything in it and nothing else.
public struct StageCatalog: Sendable {
    public struct Entry: Sendable, Equatable {
        public var stage: Stage
        /// Where the stage has something.
        public var inBlobStore: Bool
        public var inMetadataStore: Bool
        /// Its metadata store's format, where known.
        public var format: Int?
    }

    let configuration: StorageConfiguration
    let environment: [String: String]
    let logger: Logger

    public init(_ configuration: StorageConfiguration, environment: [String: String], logger: Logger = Logger(label: "rrstore.stages")) {
        var unstaged = configuration
        unstaged.stage = nil
        self.configuration = unstaged
        self.environment = environment
        self.logger = logger
    }

    /// The named stages (the default stage, the one without a name, is not listed).
    public func list() async throws -> [Entry] {
        var entries: [String: Entry] = [:]
        func note(_ name: String, blobs: Bool = false, metadata: Bool = false, format: Int? = nil) {
            guard let stage = try? Stage(name) else { return }
            var entry = entries[name] ?? Entry(stage: stage, inBlobStore: false, inMetadataStore: false, format: nil)
            entry.inBlobStore = entry.inBlobStore || blobs
            entry.inMetadataStore = entry.inMetadataStore || metadata
            entry.format = entry.format ?? format
            entries[name] = entry
        }
        let directories = (try? FileManager.default.contentsOfDirectory(atPath: "\(configuration.dataDirectory)/stages")) ?? []
        switch configuration.blobBackend {
        case .file:
            for name in directories where FileManager.default.fileExists(atPath: "\(configuration.dataDirectory)/stages/\(name)/blobs") { note(name, blobs: true) }
        case .s3:
            guard let store = try configuration.makeBlobStore(environment: environment) as? S3BlobStore else { break }
            for name in try await store.childNames(of: "stages/") { note(name, blobs: true) }
        }
        switch configuration.metadataBackend {
        case .sqlite:
            for name in directories where FileManager.default.fileExists(atPath: "\(configuration.dataDirectory)/stages/\(name)/metadata.sqlite") {
                var staged = configuration
                staged.stage = try? Stage(name)
                let format = try? await SQLiteMetadataStore.format(at: staged.sqlitePath)
                note(name, metadata: true, format: format)
            }
        case .postgres:
            for (stage, format) in try await PostgresMetadataStore.stageSchemas(url: try postgresURL(), logger: logger) {
                note(stage.name, metadata: true, format: format)
            }
        }
        return entries.values.sorted { $0.stage.name < $1.stage.name }
    }

    /// Removes the stage's blobs and metadata; `progress` hears of every 1,000 blobs.
    /// Returns the blobs removed and whether it had metadata.
    public func delete(_ stage: Stage, progress: @Sendable (Int) -> Void = { _ in }) async throws -> (blobs: Int, metadata: Bool) {
        var staged = configuration
        staged.stage = stage
        var removed = 0
        switch configuration.blobBackend {
        case .file:
            removed = (try? FileManager.default.subpathsOfDirectory(atPath: staged.blobDirectory).count) ?? 0
            try removeTree(staged.blobDirectory)
        case .s3:
            // The stage's own prefix: nothing outside `<prefix>stages/<name>/` is listed.
            let store = try staged.makeBlobStore(environment: environment)
            while true {
                let page = try await store.list(prefix: "", after: nil, limit: 1000)
                if page.blobs.isEmpty { break }
                try await forEachConcurrently(page.blobs, limit: 16, { try await store.delete($0.key) }, collect: { _ in })
                removed += page.blobs.count
                progress(removed)
            }
        }
        var hadMetadata = false
        switch configuration.metadataBackend {
        case .sqlite:
            hadMetadata = FileManager.default.fileExists(atPath: staged.sqlitePath)
            for suffix in ["", "-wal", "-shm"] { try removeTree(staged.sqlitePath + suffix) }
        case .postgres:
            hadMetadata = try await PostgresMetadataStore.dropStage(stage, url: try postgresURL(), logger: logger)
        }
        // The stage's directory, once empty (the embedded store keeps both parts there).
        try? FileManager.default.removeItem(atPath: staged.stageDirectory)
        return (removed, hadMetadata)
    }

    private func postgresURL() throws -> String {
        guard let url = configuration.postgresURL, !url.isEmpty else {
            throw RRStoreError(.invalidConfiguration, "--metadata postgres needs --postgres-url (or RRSTORE_POSTGRES_URL)")
        }
        return url
    }

    private func removeTree(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        do { try FileManager.default.removeItem(atPath: path) } catch {
            throw RRStoreError(.storageRejected, "could not remove \(path): \(error.localizedDescription)")
        }
    }
}
