import RRStoreCore
import RRStoreStorage

/// How the service listens, what it accepts, and when it flushes. Built from flags and
/// `RRSTORE_*` variables by `rrstore serve`; tests build it directly.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Origins allowed to call from browsers (`*` for any; credentials only for listed ones).
    public var corsOrigins: [String] = []
    public var limits = Limits()
    public var flush = FlushPolicy()
    /// How small assets are packed (store format 3).
    public var pack = PackPolicy()
    /// Retention and background garbage collection.
    public var lifecycle = LifecyclePolicy()
    public var rewrite = RewriteOptions(recentAssetsBytes: 4 << 20)
    /// Bytes of recently read assets kept in memory across requests.
    public var assetCacheBytes = 64 << 20
    /// Prefix of asset URLs in `assets=url` reads (`<base>/assets/sha256:<hex>`); empty:
    /// the scheme and host each request came in on (`AssetLinkBase`).
    public var publicBaseURL = ""
    /// Whether `assets=url` links take their scheme and host from `X-Forwarded-Proto` /
    /// `X-Forwarded-Host` (only behind a proxy that sets them) rather than from `Host`.
    public var trustForwardedHeaders = false
    /// The viewer (`/viewer/`) and its replay frame's listener.
    public var viewer = ViewerConfiguration()
    /// Where large uploads wait while they are hashed (removed after each request).
    public var spoolDirectory = "/tmp"
    /// The form of reads when a request does not choose one (`?format=`): rrstore's own,
    /// or the original system's (events as `{"sessionId", "rrwebEvent", "sequence"}` lines,
    /// the listing as DynamoDB's `{"Items": [...]}`), so its viewer works unchanged.
    public var apiCompat: APICompat = .rrstore
    public enum APICompat: String, Sendable, CaseIterable { case rrstore, original }

    /// Whether events posted for a recording the tenant does not have create it (the
    /// original client posts events before its `PUT /recordings/{id}`).
    public var createOnAppend = true
    /// How long an original-client envelope (`{"rrwebEvent", "sequence"}`) waits for the
    /// envelopes before it in its page's order, so they are stored in the client's order
    /// even when its posts overlap; 0 stores them in arrival order.
    public var envelopeOrderWaitSeconds = 2.0
    /// The tenant of every request while auth is off.
    public var localTenant = "local"
    /// Who may call, as which tenant (`none`: everyone, as the local tenant).
    public var auth = AuthConfiguration()

    public init() {}

    public struct Limits: Sendable {
        /// A request body as sent (compressed or not).
        public var maxBodyBytes = 64 << 20
        /// An events body after gzip is undone.
        public var maxDecodedBodyBytes = 256 << 20
        public var maxEventBytes = 32 << 20
        public var maxEventsPerBatch = 10_000
        public var maxAssetBytes = 256 << 20
        public var maxScreenshotBytes = 10 << 20
        public var maxMissingQuery = 1_000
        /// `POST /assets/batch`: the body's bytes and assets at most (the body is held in
        /// memory, within the request memory budget); each asset at most 4 MiB.
        public var maxBatchBytes = 16 << 20
        public var maxBatchAssets = 1_000
        public var maxListLimit = 1_000
        /// Event batches decoded and rewritten at once, once their bodies have arrived; more
        /// wait (bounds CPU; memory is bounded by `requestMemoryBytes`).
        public var maxConcurrentIngest = 4
        /// Request bodies and their decoded, rewritten events held in memory, all requests
        /// together; past it requests get 503 with Retry-After.
        public var requestMemoryBytes = 1 << 30
        /// Bytes of large uploads spooled to disk at once, all requests together.
        public var spoolBytes = 4 << 30
        /// A request body must have arrived this many seconds after its headers.
        public var bodyDeadlineSeconds = 60.0
        /// Store round trips a request waits on (asset writes, reads) end by then; past it
        /// the answer is 503 with Retry-After, so a stalled store never hangs a client.
        public var storeDeadlineSeconds = 20.0
        /// What one event may expand to on a read (escaping included); ingest and uploads
        /// already keep expansions within `maxEventBytes`.
        public var maxReadExpansionBytes = 128 << 20
        /// Open connections at most; more are answered 503 and closed at once.
        public var maxConnections = 2048
        /// A connection with no request under way (or whose request head has not arrived)
        /// is closed after this many seconds.
        public var idleTimeoutSeconds = 30.0
        public init() {}
    }

    /// When a recording's pending events become a chunk: enough bytes, the oldest old
    /// enough, or no new event for a while.
    public struct FlushPolicy: Sendable {
        public var chunkBytes = 8 << 20
        public var maxAgeSeconds = 60.0
        public var idleSeconds = 30.0
        /// How often the flusher looks for due recordings.
        public var intervalSeconds = 1.0
        public init() {}
    }
}

/// What goes, and when: recordings past their retention, and (by the collector) what no
/// recording needs any more.
public struct LifecyclePolicy: Sendable, Equatable {
    /// Recordings older than this many days are deleted; 0 keeps them forever.
    public var retentionDays = 0
    /// Tenants with a retention of their own (days; 0: forever), instead of `retentionDays`.
    public var tenantRetentionDays: [String: Int] = [:]
    /// How often retention looks for recordings past their time.
    public var retentionIntervalSeconds = 600.0
    /// How often the collector runs in the background; 0: only by `rrstore gc`.
    public var gcIntervalSeconds = 0.0
    public var gc = GCPolicy()
    public init() {}

    /// The retention of `tenant` in days (0: forever).
    public func retention(of tenant: String) -> Int { tenantRetentionDays[tenant] ?? retentionDays }
}

/// The viewer's pages and the origin its replays run on (`ViewerFrameServer`).
public struct ViewerConfiguration: Sendable {
    /// Whether `/viewer/` is served and the replay frame listens.
    public var enabled = true
    /// The replay frame's port, on the service's host; 0 picks a free one.
    public var framePort = 0
    /// The frame's origin as browsers reach it (`https://replay.example`), behind a proxy;
    /// empty: the scheme and host a viewer page was asked for, with `framePort`.
    public var frameURL = ""
    public init() {}
}
