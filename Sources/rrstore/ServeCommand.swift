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
            let host = configuration.host, serverLogger = logger
            let app = buildApplication(state: state) { port in
                // One parseable line: scripts started with --port 0 read the port from it.
                serverLogger.notice("rrstore listening on http://\(host):\(port) (blobs: \(stores.blobBackend.rawValue), metadata: \(stores.metadataBackend.rawValue))")
            }
            try await app.runService()
        }
    }
}
