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

    @Option(help: "Address to listen on (env RRSTORE_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "Port (env RRSTORE_PORT; default 8080; 0 picks a free one).")
    var port: Int?

    @Option(name: .customLong("cors-origin"), help: "A browser origin allowed to call the API, repeatable, or * for any (env RRSTORE_CORS_ORIGINS, comma-separated).")
    var corsOrigins: [String] = []

    @Option(help: "URL prefix of asset links in assets=url reads (env RRSTORE_PUBLIC_URL; default: relative /assets/...).")
    var publicURL: String?

    @Option(help: "Flush a recording's pending events once this many bytes are pending (env RRSTORE_FLUSH_BYTES; default 8388608).")
    var flushBytes: Int?

    @Option(help: "... or once the oldest is this many seconds old (env RRSTORE_FLUSH_AGE; default 60).")
    var flushAge: Double?

    @Option(help: "... or once no event came for this many seconds (env RRSTORE_FLUSH_IDLE; default 30).")
    var flushIdle: Double?

    @Option(help: "Largest request body in bytes (env RRSTORE_MAX_BODY; default 67108864).")
    var maxBody: Int?

    @Option(help: "Open connections at most; more are answered 503 and closed (env RRSTORE_MAX_CONNECTIONS; default 2048, and at most what the open-file limit allows).")
    var maxConnections: Int?

    @Option(help: "Seconds a connection may sit idle, or take to send its request head (env RRSTORE_IDLE_TIMEOUT; default 30).")
    var idleTimeout: Double?

    @Option(help: "Seconds a request body may take to arrive (env RRSTORE_BODY_TIMEOUT; default 60).")
    var bodyTimeout: Double?

    @Option(help: "Seconds a request waits on a store before answering 503 (env RRSTORE_STORE_TIMEOUT; default 20).")
    var storeTimeout: Double?

    @Option(help: "Bytes of request bodies and decoded events held at once, all requests together (env RRSTORE_REQUEST_MEMORY; default 1073741824).")
    var requestMemory: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error (env RRSTORE_LOG_LEVEL; default info).")
    var logLevel: String?

    @OptionGroup var storage: StorageOptions
    @OptionGroup var auth: AuthOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        func number<T: LosslessStringConvertible>(_ flag: T?, _ variable: String) throws -> T? {
            if let flag { return flag }
            guard let text = environment[variable], !text.isEmpty else { return nil }
            guard let value = T(text) else { throw ValidationError("\(variable)='\(text)' is not a number") }
            return value
        }
        let levelName = environment.setting(logLevel, or: "RRSTORE_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else { throw ValidationError("--log-level '\(levelName)' is not a log level") }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "rrstore")
        logger.logLevel = level

        var configuration = ServerConfiguration()
        configuration.host = environment.setting(host, or: "RRSTORE_HOST") ?? configuration.host
        configuration.port = try number(port, "RRSTORE_PORT") ?? configuration.port
        configuration.corsOrigins = corsOrigins.isEmpty
            ? (environment["RRSTORE_CORS_ORIGINS"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            : corsOrigins
        configuration.publicBaseURL = environment.setting(publicURL, or: "RRSTORE_PUBLIC_URL") ?? ""
        configuration.flush.chunkBytes = try number(flushBytes, "RRSTORE_FLUSH_BYTES") ?? configuration.flush.chunkBytes
        configuration.flush.maxAgeSeconds = try number(flushAge, "RRSTORE_FLUSH_AGE") ?? configuration.flush.maxAgeSeconds
        configuration.flush.idleSeconds = try number(flushIdle, "RRSTORE_FLUSH_IDLE") ?? configuration.flush.idleSeconds
        configuration.limits.maxBodyBytes = try number(maxBody, "RRSTORE_MAX_BODY") ?? configuration.limits.maxBodyBytes
        configuration.limits.idleTimeoutSeconds = try number(idleTimeout, "RRSTORE_IDLE_TIMEOUT") ?? configuration.limits.idleTimeoutSeconds
        configuration.limits.bodyDeadlineSeconds = try number(bodyTimeout, "RRSTORE_BODY_TIMEOUT") ?? configuration.limits.bodyDeadlineSeconds
        configuration.limits.storeDeadlineSeconds = try number(storeTimeout, "RRSTORE_STORE_TIMEOUT") ?? configuration.limits.storeDeadlineSeconds
        configuration.limits.requestMemoryBytes = try number(requestMemory, "RRSTORE_REQUEST_MEMORY") ?? configuration.limits.requestMemoryBytes
        for (name, value) in [("--idle-timeout", configuration.limits.idleTimeoutSeconds), ("--body-timeout", configuration.limits.bodyDeadlineSeconds),
                              ("--store-timeout", configuration.limits.storeDeadlineSeconds)] where !(value > 0 && value <= 86_400) {
            throw ValidationError("\(name) must be a number of seconds above 0 and at most 86400, not \(value)")
        }
        // Each connection is a file descriptor: the cap must leave room for the stores'.
        let descriptors = FileDescriptorLimit.raiseToHard()
        let requested = try number(maxConnections, "RRSTORE_MAX_CONNECTIONS") ?? configuration.limits.maxConnections
        guard requested > 0 else { throw ValidationError("--max-connections must be at least 1") }
        configuration.limits.maxConnections = min(requested, max(16, descriptors - 256))
        configuration.spoolDirectory = environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"

        try await reportingErrors {
            configuration.auth = try auth.resolve(environment: environment)
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
                serverLogger.notice("rrstore listening on http://\(host):\(port) (blobs: \(stores.blobBackend.rawValue), metadata: \(stores.metadataBackend.rawValue))")
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
