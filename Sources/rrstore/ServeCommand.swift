import ArgumentParser
import Foundation
import Logging
import RRStoreAuth
import RRStoreCore
import RRStoreServer
import RRStoreStorage

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service (embedded default: files + SQLite under ./rrstore-data).",
        discussion: """
        Every flag has an RRSTORE_* environment variable (flags win). SIGTERM or SIGINT shut \
        down gracefully: requests in flight finish and pending events are flushed to chunks. \
        With --auth none (the default) every request is one local tenant: never expose such a \
        service beyond your own machine or a trusted network.
        """
    )

    typealias S = ServeSettings
    @Option(help: S.table.help("host")) var host: String?
    @Option(help: S.table.help("port")) var port: String?
    @Option(name: .customLong("cors-origin"), help: S.table.help("cors-origin")) var corsOrigin: [String] = []
    @Option(help: S.table.help("public-url")) var publicURL: String?
    @Option(help: S.table.help("api-compat")) var apiCompat: String?
    @Option(help: S.table.help("create-on-append")) var createOnAppend: String?
    @Option(help: S.table.help("envelope-order-wait")) var envelopeOrderWait: String?
    @Option(help: S.table.help("trust-proxy")) var trustProxy: String?
    @Option(help: S.table.help("viewer")) var viewer: String?
    @Option(help: S.table.help("viewer-frame-port")) var viewerFramePort: String?
    @Option(help: S.table.help("viewer-frame-url")) var viewerFrameURL: String?
    @Option(help: S.table.help("flush-bytes")) var flushBytes: String?
    @Option(help: S.table.help("flush-age")) var flushAge: String?
    @Option(help: S.table.help("flush-idle")) var flushIdle: String?
    @Option(help: S.table.help("pack-threshold")) var packThreshold: String?
    @Option(help: S.table.help("pack-block")) var packBlock: String?
    @Option(help: S.table.help("pack-level")) var packLevel: String?
    @Option(help: S.table.help("pack-min-bytes")) var packMinBytes: String?
    @Option(help: S.table.help("pack-age")) var packAge: String?
    @Option(help: S.table.help("pack-interval")) var packInterval: String?
    @Option(help: S.table.help("retention-days")) var retentionDays: String?
    @Option(name: .customLong("tenant-retention"), help: S.table.help("tenant-retention")) var tenantRetention: [String] = []
    @Option(help: S.table.help("gc-interval")) var gcInterval: String?
    @Option(help: S.table.help("gc-grace")) var gcGrace: String?
    @Option(help: S.table.help("max-body")) var maxBody: String?
    @Option(help: S.table.help("max-decoded-body")) var maxDecodedBody: String?
    @Option(help: S.table.help("max-event-size")) var maxEventSize: String?
    @Option(help: S.table.help("max-batch-events")) var maxBatchEvents: String?
    @Option(help: S.table.help("max-asset-size")) var maxAssetSize: String?
    @Option(help: S.table.help("max-screenshot-size")) var maxScreenshotSize: String?
    @Option(help: S.table.help("max-connections")) var maxConnections: String?
    @Option(help: S.table.help("idle-timeout")) var idleTimeout: String?
    @Option(help: S.table.help("body-timeout")) var bodyTimeout: String?
    @Option(help: S.table.help("store-timeout")) var storeTimeout: String?
    @Option(help: S.table.help("request-memory")) var requestMemory: String?
    @Option(help: S.table.help("spool-bytes")) var spoolBytes: String?
    @Option(help: S.table.help("max-read-expansion")) var maxReadExpansion: String?
    @Option(help: S.table.help("ingest-concurrency")) var ingestConcurrency: String?
    @Option(help: S.table.help("asset-cache")) var assetCache: String?
    @Option(help: S.table.help("min-asset-size")) var minAssetSize: String?
    @Option(help: S.table.help("min-tree-size")) var minTreeSize: String?
    @Option(help: S.table.help("rewrite-cache")) var rewriteCache: String?
    @Option(help: S.table.help("log-level")) var logLevel: String?

    @Flag(help: "Print the configuration these flags and variables give (JSON: each setting's value and where it came from; secrets redacted) and exit.")
    var printConfig = false

    @OptionGroup var storage: StorageOptions
    @OptionGroup var auth: AuthOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let (settings, origins) = try S.table.resolve(flags: S.table.given(in: self), environment: environment)
        var configuration = settings.server
        let level = settings.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "rrstore")
        logger.logLevel = level

        if printConfig {
            let (stores, storeOrigins) = try storage.resolveWithOrigins(environment: environment)
            let (auth, authOrigins) = try auth.resolve(environment: environment)
            let all = S.table.describe(settings, origins: origins) + StorageSettings.table.describe(stores, origins: storeOrigins)
                + AuthSettings.table.describe(auth, origins: authOrigins)
            print(String(decoding: try JSONSerialization.data(withJSONObject: all, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        // Each connection is a file descriptor: the cap must leave room for the stores'.
        let descriptors = FileDescriptorLimit.raiseToHard()
        let requested = configuration.limits.maxConnections
        configuration.limits.maxConnections = min(requested, max(16, descriptors - 256))
        configuration.spoolDirectory = environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"

        try await reportingErrors {
            configuration.auth = try auth.resolve(environment: environment).0
            try configuration.auth.validate()
            if configuration.auth.mode == .none && !["127.0.0.1", "localhost", "::1"].contains(configuration.host) {
                logger.warning("auth is off and the service listens on \(configuration.host): anyone who reaches it can read and write everything")
            }
            let stores = try storage.resolve()
            let blobs = try stores.makeBlobStore(environment: environment)
            let metadata = try await stores.makeMetadataStore(logger: logger)
            let state = ServerState(configuration: configuration, blobs: blobs, metadata: metadata, logger: logger)
            if configuration.limits.maxConnections < requested {
                logger.warning("--max-connections \(requested) lowered to \(configuration.limits.maxConnections): the open-file limit is \(descriptors)")
            }
            let host = configuration.host, serverLogger = logger
            let app = buildApplication(state: state) { port in
                // One parseable line: scripts started with --port 0 read the port from it.
                serverLogger.notice("rrstore listening on http://\(host):\(port) (stage: \(stores.stage?.name ?? "default"), blobs: \(stores.blobBackend.rawValue), metadata: \(stores.metadataBackend.rawValue), format \(StoreFormat.current))")
            }
            try await app.runService()
        }
    }
}

/// The process's open-file limit.
enum FileDescriptorLimit {
    /// Raises the soft limit to the hard one (often 1024 → 1048576) and returns it.
    static func raiseToHard() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }
}
