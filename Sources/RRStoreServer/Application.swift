#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import RRStoreCore
import RRStoreIO
import RRStoreStorage
import ServiceLifecycle

/// What every route and background service shares: the two stores, the configuration,
/// metrics and the cache of recently read assets. The service keeps no other state, so
/// several instances can share one pair of stores.
public struct ServerState: Sendable {
    public let configuration: ServerConfiguration
    public let blobs: any BlobStore
    /// Every asset kept: packed, staged, or one object each in `blobs`.
    var assets: StoredAssets { StoredAssets(blobs: blobs, index: metadata, blocks: packBlocks) }
    let packBlocks = PackBlockCache()
    let storeFormat: StoreFormatWatch
    public let metadata: any MetadataStore
    public let metrics: ServerMetrics
    let assetCache: AssetCache
    let linkCache = LinkCache()
    let ingestLimiter: AsyncLimiter
    /// Commits the original client's envelopes in its `sequence` order.
    let envelopes: EnvelopeSequencer
    /// Request bytes held in memory, all requests together.
    let requestMemory: MemoryBudget
    /// Upload bytes spooled to disk, all requests together.
    let spoolSpace: MemoryBudget
    let connections: ConnectionCount
    let storeProbe = StoreProbe()
    let authenticator: Authenticator
    let viewerPorts = ViewerPorts()
    let logger: Logger

    public init(configuration: ServerConfiguration, blobs: any BlobStore, metadata: any MetadataStore,
                metrics: ServerMetrics = ServerMetrics(), logger: Logger) {
        self.configuration = configuration
        self.blobs = blobs
        self.metadata = metadata
        self.metrics = metrics
        self.assetCache = AssetCache(capacityBytes: configuration.assetCacheBytes)
        self.storeFormat = StoreFormatWatch(metadata)
        self.ingestLimiter = AsyncLimiter(limit: configuration.limits.maxConcurrentIngest)
        self.envelopes = EnvelopeSequencer(waitSeconds: configuration.envelopeOrderWaitSeconds)
        self.requestMemory = MemoryBudget(capacity: configuration.limits.requestMemoryBytes)
        self.spoolSpace = MemoryBudget(capacity: configuration.limits.spoolBytes)
        self.connections = ConnectionCount(limit: configuration.limits.maxConnections)
        self.authenticator = Authenticator(configuration: configuration.auth, localTenant: configuration.localTenant,
                                           metrics: metrics, logger: logger)
        self.logger = logger
    }

    /// Milliseconds since 1970.
    public static func now() -> Int64 { WallClock.millisecondsSince1970() }

    /// The tenant's linked and indexed assets among `digests`, touched: every answer that
    /// tells a client an asset is here goes through this, so the collector, whose sweep is
    /// serialized with touches, never deletes what a client was just told to rely on
    /// (`LifecycleIndex`). A row the collector took between the two steps is left out.
    func heldAssets(tenant: String, among digests: [SHA256Digest]) async throws -> [SHA256Digest: AssetRecord] {
        let linked = try await metadata.linkedAssets(tenant: tenant, among: digests)
        guard !linked.isEmpty else { return [:] }
        let indexed = try await metadata.touchAssets(Array(linked.keys), at: Self.now(),
                                                   resolution: configuration.lifecycle.gc.touchResolutionMillis)
        return linked.filter { indexed.contains($0.key) }
    }
}

/// The composition root `rrstore serve` and the tests share: routes, middleware, the
/// flusher and (for PostgreSQL) the connection pool, as one service group.
/// `onServerRunning` gets the bound port (useful with port 0).
public func buildApplication(
    state: ServerState,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = Router(context: RRStoreRequestContext.self)
    router.middlewares.add(RequestMetricsMiddleware(metrics: state.metrics))
    if let cors = CrossOriginMiddleware(origins: state.configuration.corsOrigins) {
        router.middlewares.add(cors)
    }
    router.middlewares.add(ErrorMiddleware())
    router.middlewares.add(AuthMiddleware(authenticator: state.authenticator))

    RecordingRoutes(state: state).register(on: router)
    EventRoutes(state: state).register(on: router)
    AssetRoutes(state: state).register(on: router)
    ServiceRoutes(state: state).register(on: router)
    ViewerRoutes(state: state).register(on: router)

    // Shut down in reverse: the packer's and the flusher's final passes first, the
    // metadata store last.
    var services: [any Service] = [state.metadata, Flusher(state: state), PackingService(state: state),
                                   RetentionService(state: state), GarbageCollectionService(state: state)]
    if state.configuration.viewer.enabled { services.append(ViewerFrameServer.build(state: state)) }

    let limits = state.configuration.limits
    let http1 = HTTP1Channel.Configuration(idleTimeout: .milliseconds(Int64(limits.idleTimeoutSeconds * 1000)))
    var app = Application(
        router: router,
        server: .cappedHTTP1(http1, connections: state.connections),
        configuration: .init(address: .hostname(state.configuration.host, port: state.configuration.port), serverName: "rrstore"),
        services: services,
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? 0
            state.viewerPorts.setAPI(port)
            await onServerRunning(port)
        },
        logger: state.logger
    )
    app.beforeServerStarts {
        try await state.authenticator.prepare()
        try await state.metadata.migrate()
    }
    return app
}

/// Runs the service in this process on `state`'s host and port (0 picks a free one) for the
/// duration of `body`, which gets the bound port; then shuts it down gracefully, which
/// flushes pending events. For tests and `rrstore bench`.
public func withRunningServer<T: Sendable>(state: ServerState, _ body: @Sendable (Int) async throws -> T) async throws -> T {
    let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
    let app = buildApplication(state: state) { portSink.yield($0) }
    let group = ServiceGroup(configuration: .init(services: [app], logger: state.logger))
    return try await withThrowingTaskGroup(of: T?.self) { tasks in
        tasks.addTask {
            // A group that ends before the server listens (a service failed or returned)
            // ends the port stream too, so the caller hears why instead of waiting forever.
            defer { portSink.finish() }
            try await group.run()
            return nil
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            try await tasks.waitForAll()
            throw RRStoreError(.io, "the server stopped before it listened (its services ended; see the log)")
        }
        do {
            let result = try await body(port)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}
