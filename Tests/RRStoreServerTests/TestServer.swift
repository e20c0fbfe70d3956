import Foundation
import Logging
import RRStoreClient
import RRStoreCore
import RRStoreStorage
import Testing
@testable import RRStoreServer
import RRStoreHTTP
import RRStoreIO
import RRStoreTestSupport

/// Which stores a test server runs on.
enum TestStores: String, CustomTestStringConvertible, CaseIterable {
    /// Files + SQLite in a temporary directory.
    case embedded
    /// moto's S3 + a throwaway PostgreSQL, both started by scripts/test.sh on loopback.
    case s3Postgres

    var testDescription: String { rawValue }

    static let environment = ProcessInfo.processInfo.environment
    static var isCI: Bool { environment["CI"] == "true" }
    /// Embedded always; S3 + PostgreSQL when the servers are there, and always under CI
    /// (where a missing server fails the test instead of skipping it).
    static var available: [TestStores] {
        environment["RRSTORE_TEST_S3_ENDPOINT"] != nil || isCI ? [.embedded, .s3Postgres] : [.embedded]
    }

    static func require(_ name: String) throws -> String {
        guard let value = environment[name], !value.isEmpty else {
            throw RRStoreError(.invalidConfiguration, "\(name) is not set: run the tests through scripts/test.sh, which starts moto and PostgreSQL on loopback")
        }
        return value
    }
}

/// A set of stores several server instances can share (as behind a load balancer). Each
/// instance gets its own PostgreSQL connection pool, as separate processes would.
final class SharedStores: Sendable {
    let blobs: any BlobStore
    let metadata: any MetadataStore
    let directory: String
    let postgresURL: String?
    /// The PostgreSQL schema of these stores.
    let schema: String?

    init(_ kind: TestStores) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-server-\(UUID().uuidString)").path
        try FileSystem.makeDirectories(directory)
        switch kind {
        case .embedded:
            blobs = try FileBlobStore(root: directory + "/blobs")
            metadata = try await SQLiteMetadataStore(path: directory + "/metadata.sqlite")
            postgresURL = nil
            schema = nil
        case .s3Postgres:
            let endpoint = try TestStores.require("RRSTORE_TEST_S3_ENDPOINT")
            let bucket = "rrstore-server-\(UUID().uuidString.lowercased().prefix(16))"
            let store = try S3BlobStore(configuration: S3Configuration(endpoint: endpoint, bucket: bucket,
                                                                       credentials: AWSCredentials(accessKeyID: "test", secretAccessKey: "test")))
            try await store.createBucketIfMissing()
            blobs = store
            // A schema of its own in the shared database: the asset index must match this
            // bucket, and flushers of other tests' servers must not touch this one's pending
            // events. (A database each made dozens of concurrent CREATE DATABASEs, which
            // PostgreSQL serializes, pushing servers' first queries past their deadline.)
            let url = try TestStores.require("RRSTORE_TEST_POSTGRES_URL")
            let name = "rrstore_srv_\(UUID().uuidString.lowercased().prefix(8))"
            postgresURL = url
            schema = name
            metadata = try PostgresMetadataStore(url: url, schema: name)
        }
    }

    /// The metadata store for one more server instance.
    func metadataForInstance() throws -> any MetadataStore {
        if let postgresURL { return try PostgresMetadataStore(url: postgresURL, schema: schema) }
        return metadata
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

struct RunningServer {
    let url: String
    let state: ServerState
    var client: RRStoreClient { RRStoreClient(baseURL: url, retry: .init(attempts: 1)) }
}

/// Runs a real server on a free loopback port for the duration of `body`, then shuts it
/// down gracefully (which flushes pending events).
func withServer<T: Sendable>(
    _ stores: SharedStores,
    tenant: String = "t-\(UUID().uuidString.prefix(8))",
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: @Sendable (RunningServer) async throws -> T
) async throws -> T {
    var configuration = ServerConfiguration()
    configuration.port = 0
    configuration.localTenant = tenant
    configuration.flush.intervalSeconds = 0.2
    // zstd -19 is for production's background packer; dozens of test servers packing at it
    // at once on two cores push stores past their deadlines.
    configuration.pack.level = 3
    configuration.pack.incompressibleLevel = 3
    configure(&configuration)
    var logger = Logger(label: "rrstore.test")
    logger.logLevel = TestStores.environment["RRSTORE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    let state = ServerState(configuration: configuration, blobs: stores.blobs, metadata: try stores.metadataForInstance(), logger: logger)
    return try await withRunningServer(state: state) { port in
        try await body(RunningServer(url: "http://127.0.0.1:\(port)", state: state))
    }
}

/// `withServer` on a fresh pair of stores of `kind`, handing over the server's client too.
func withServer<T: Sendable>(
    _ kind: TestStores,
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: @Sendable (RunningServer, RRStoreClient) async throws -> T
) async throws -> T {
    try await withServer(try await SharedStores(kind), configure: configure) { server in try await body(server, server.client) }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

