import Logging
import RRStoreCore
import RRStoreIO

/// Which stores to use and where: the embedded default (files + SQLite under one data
/// directory) or S3 + PostgreSQL. Built from flags and `RRSTORE_*` variables by the CLI.
public struct StorageConfiguration: Sendable, Equatable {
    public enum BlobBackend: String, Sendable, CaseIterable { case file, s3 }
    public enum MetadataBackend: String, Sendable, CaseIterable { case sqlite, postgres }

    public var dataDirectory: String = "./rrstore-data"
    public var blobBackend: BlobBackend = .file
    public var s3Endpoint: String?
    public var s3Bucket: String?
    public var s3Region: String = "us-east-1"
    public var s3Prefix: String = ""
    public var s3PathStyle: Bool = true
    public var metadataBackend: MetadataBackend = .sqlite
    public var postgresURL: String?
    /// How long a metadata operation may wait for PostgreSQL before failing.
    public var postgresTimeout: Duration = .seconds(30)
    /// The release stage this deployment is (`Stage`); nil: the default stage.
    public var stage: Stage?

    public init() {}

    /// The stage's own directory: the data directory itself for the default stage.
    public var stageDirectory: String { stage.map { "\(dataDirectory)/stages/\($0.name)" } ?? dataDirectory }
    public var blobDirectory: String { "\(stageDirectory)/blobs" }
    public var sqlitePath: String { "\(stageDirectory)/metadata.sqlite" }
    /// The stage's S3 key prefix, ending in `/` unless empty.
    public var stageS3Prefix: String {
        var prefix = s3Prefix
        if !prefix.isEmpty && !prefix.hasSuffix("/") { prefix += "/" }
        return stage.map { prefix + "stages/\($0.name)/" } ?? prefix
    }

    /// The blob store; S3 credentials come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
    /// and `AWS_SESSION_TOKEN` in `environment`.
    public func makeBlobStore(environment: [String: String]) throws -> any BlobStore {
        switch blobBackend {
        case .file:
            try FileSystem.makeDirectories(stageDirectory)
            return try FileBlobStore(root: blobDirectory)
        case .s3:
            guard let bucket = s3Bucket, !bucket.isEmpty else {
                throw RRStoreError(.invalidConfiguration, "--blob-store s3 needs --s3-bucket (or RRSTORE_S3_BUCKET)")
            }
            guard let credentials = AWSCredentials.fromEnvironment(environment) else {
                throw RRStoreError(.invalidConfiguration, "--blob-store s3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
            }
            let endpoint = s3Endpoint ?? "https://s3.\(s3Region).amazonaws.com"
            return try S3BlobStore(configuration: S3Configuration(endpoint: endpoint, bucket: bucket, region: s3Region, prefix: stageS3Prefix,
                                                                  pathStyle: s3PathStyle, credentials: credentials))
        }
    }

    /// The metadata store, not yet migrated. A `PostgresMetadataStore` works only while its
    /// `run()` is running (the server runs it as a service).
    public func makeMetadataStore(logger: Logger = Logger(label: "rrstore.storage")) async throws -> any MetadataStore {
        switch metadataBackend {
        case .sqlite:
            try FileSystem.makeDirectories(stageDirectory)
            return try await SQLiteMetadataStore(path: sqlitePath)
        case .postgres:
            guard let url = postgresURL, !url.isEmpty else {
                throw RRStoreError(.invalidConfiguration, "--metadata postgres needs --postgres-url (or RRSTORE_POSTGRES_URL)")
            }
            return try PostgresMetadataStore(url: url, schema: stage?.postgresSchema, operationTimeout: postgresTimeout, logger: logger)
        }
    }

    /// The metadata store, migrated. A PostgreSQL store's pool must be running: `body` is
    /// called while it is, and the pool stops when `body` returns.
    public func withMetadataStore<T: Sendable>(logger: Logger = Logger(label: "rrstore.storage"),
                                               _ body: @Sendable (any MetadataStore) async throws -> T) async throws -> T {
        let store = try await makeMetadataStore(logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try? await store.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            return try await body(store)
        }
    }
}

/// A release stage: a deployment of its own (a pull request's, staging, production) that
/// shares a bucket and a database server with others without seeing them. Its name is 1 to
/// 40 of `a-z 0-9 -`, starting with a letter or digit: as it is, a safe S3 key segment
/// (`<prefix>stages/<name>/`) and directory name (`<data>/stages/<name>`); with `-` as `_`,
/// an unquoted PostgreSQL schema name (`rrstore_stage_<name>`; no `_` in names, so two
/// stages never share a schema).
public struct Stage: Sendable, Hashable, CustomStringConvertible {
    public let name: String

    public init(_ name: String) throws {
        let bytes = Array(name.utf8)
        guard (1...40).contains(bytes.count), bytes[0] != UInt8(ascii: "-"),
              bytes.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") }) else {
            throw RRStoreError(.invalidConfiguration, "a stage name is 1 to 40 of a-z 0-9 - (starting with a letter or digit), like pr-123 or staging; not '\(name.prefix(60))'")
        }
        self.name = name
    }

    public var postgresSchema: String { Self.schemaPrefix + String(name.map { $0 == "-" ? "_" : $0 }) }
    static let schemaPrefix = "rrstore_stage_"

    /// The stage whose schema this is, if it is one.
    public static func fromSchema(_ schema: String) -> Stage? {
        guard schema.hasPrefix(schemaPrefix) else { return nil }
        return try? Stage(String(schema.dropFirst(schemaPrefix.count).map { $0 == "_" ? "-" : $0 }))
    }

    public var description: String { name }
}
