import Logging
import ArgumentParser
import RRStoreServer

/// What `rrstore serve` is configured with besides its stores and auth.
struct ServeConfiguration {
    var server = ServerConfiguration()
    var logLevel: Logger.Level = .info
}

/// The service's settings: listening, limits, flushing and the rewrite's thresholds.
enum ServeSettings {
    static let bytes = 1...(1 << 40)

    static var table: SettingsTable<ServeConfiguration> { SettingsTable(title: "service", defaults: ServeConfiguration(), settings: [
        .text("host", \.server.host, "ADDR", example: "0.0.0.0", "address to listen on"),
        .integer("port", \.server.port, "PORT", in: 0...65_535, example: 9090, "port; 0 picks a free one (the start line says which)"),
        Setting("cors-origin", variable: "RRSTORE_CORS_ORIGINS", "ORIGIN", example: "https://app.example", repeatable: true,
                "a browser origin allowed to call the API, or `*` for any (credentials only for listed origins). With `*` every answer carries `Access-Control-Allow-Origin: *`; with listed origins every answer says `Vary: Origin`, so cached assets never fail a later CORS load",
                show: { $0.server.corsOrigins.joined(separator: ",") }) { root, values, _ in root.server.corsOrigins = values },
        .text("public-url", \.server.publicBaseURL, "URL", example: "https://rrstore.example",
              "prefix of asset links in `assets=url` reads (`<URL>/assets/sha256:<hex>`); empty: the scheme and `Host` each request came in on"),
        .boolean("viewer", \.server.viewer.enabled, example: false,
                 "serve the viewer (`/viewer/`: the tenant's recordings, a player, what each costs) and listen for its replay frame on a second port"),
        .integer("viewer-frame-port", \.server.viewer.framePort, "PORT", in: 0...65_535, example: 9091,
                 "port of the viewer's replay frame (recorded pages are replayed on this origin, apart from the token and the API); 0 picks a free one"),
        .text("viewer-frame-url", \.server.viewer.frameURL, "URL", example: "https://replay.rrstore.example",
              "the replay frame's origin as browsers reach it, behind a proxy; empty: the scheme and host of the viewer page with `--viewer-frame-port`",
              check: { value, origin in
                  if !value.isEmpty, ViewerOrigins.origin(of: value).map({ $0 == value || $0 + "/" == value }) != true {
                      throw ValidationError("\(origin) must be an origin (http or https, a host and an optional port, no path), not '\(value)'")
                  }
              }),
        .boolean("trust-proxy", \.server.trustForwardedHeaders, example: true,
                 "without `--public-url`, asset links take scheme and host from `X-Forwarded-Proto`/`X-Forwarded-Host`: only behind a proxy that sets them"),
        .choice("api-compat", \.server.apiCompat, example: .original,
                "the form of reads that do not ask for one (`?format=`): `original` answers events and the listing as the replaced system did, for its viewer"),
        .boolean("create-on-append", \.server.createOnAppend, example: false,
                 "events posted for a recording the tenant does not have create it (as the original backend accepted them); `false`: 404"),
        .seconds("envelope-order-wait", \.server.envelopeOrderWaitSeconds, example: 0.5,
                 "an original-client envelope (`{\"rrwebEvent\", \"sequence\"}`) waits up to this long for the envelopes before it, so events are stored in the client's order"),
        .integer("flush-bytes", \.server.flush.chunkBytes, in: 1...bytes.upperBound, example: 1 << 20,
                 "a recording's pending events become a chunk once this many bytes are pending"),
        .seconds("flush-age", \.server.flush.maxAgeSeconds, example: 5, "… or once the oldest pending event is this old"),
        .seconds("flush-idle", \.server.flush.idleSeconds, example: 5, "… or once no event came for this long"),
        .integer("pack-threshold", \.server.pack.maxAssetBytes, in: 0...(16 << 20), example: 256 << 10,
                 "assets smaller than this are staged in the metadata store and packed (store format 3); larger ones are one object each. 0: no packs"),
        .integer("pack-block", \.server.pack.blockBytes, in: 4096...(8 << 20), example: 256 << 10,
                 "raw bytes of compressible assets that share one zstd block: more compresses better, and a read of one asset decompresses up to this much"),
        .integer("pack-level", \.server.pack.level, in: 1...19, example: 9, "zstd level of pack blocks (packing runs in the background)"),
        .integer("pack-min-bytes", \.server.pack.minBytes, in: 1...bytes.upperBound, example: 1 << 20,
                 "a tenant's staged assets become a pack once this many bytes are staged"),
        .seconds("pack-age", \.server.pack.maxAgeSeconds, example: 10, "… or once the oldest staged asset is this old"),
        .seconds("pack-interval", \.server.pack.intervalSeconds, example: 1, "how often the packer looks for tenants due"),
        .integer("retention-days", \.server.lifecycle.retentionDays, "DAYS", in: 0...100_000, example: 90,
                 "recordings older than this are deleted in the background (their assets go with the next gc); 0 keeps them forever"),
        Setting("tenant-retention", variable: "RRSTORE_TENANT_RETENTION", "TENANT=DAYS", example: "acme=30", repeatable: true,
                "a tenant's own retention in days, instead of `--retention-days` (0: forever); repeat for more tenants",
                show: { $0.server.lifecycle.tenantRetentionDays.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }) { root, values, origin in
            var policies: [String: Int] = [:]
            for value in values.flatMap({ $0.split(separator: ",").map(String.init) }) {
                let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty, let days = Int(parts[1]), (0...100_000).contains(days) else {
                    throw ValidationError("\(origin): '\(value)' is not TENANT=DAYS (days 0 to 100000)")
                }
                policies[parts[0]] = days
            }
            root.server.lifecycle.tenantRetentionDays = policies
        },
        .integer("gc-interval", get: { Int($0.server.lifecycle.gcIntervalSeconds) }, set: { $0.server.lifecycle.gcIntervalSeconds = Double($1) },
                 "SECONDS", in: 0...(30 * 86_400), example: 3600,
                 "run the garbage collector in the background this often (one instance at a time, by a lease in the metadata store); 0: only by `rrstore gc`"),
        .integer("gc-grace", \.server.lifecycle.gc.graceSeconds, "SECONDS", in: 0...(365 * 86_400), example: 3600,
                 "the background collector keeps unreferenced assets and orphaned objects this long after they were last touched or written"),
        .integer("max-body", \.server.limits.maxBodyBytes, in: bytes, example: 1 << 20, "largest request body as sent (compressed or not)"),
        .integer("max-decoded-body", \.server.limits.maxDecodedBodyBytes, in: bytes, example: 1 << 20, "largest events body once gzip is undone"),
        .integer("max-event-size", \.server.limits.maxEventBytes, in: 1...bytes.upperBound, example: 1 << 20,
                 "largest event, and the most one event may expand to when its references are put back"),
        .integer("max-batch-events", \.server.limits.maxEventsPerBatch, in: 1...1_000_000, example: 500, "events in one batch at most"),
        .integer("max-asset-size", \.server.limits.maxAssetBytes, in: bytes, example: 1 << 20, "largest uploaded asset"),
        .integer("max-screenshot-size", \.server.limits.maxScreenshotBytes, in: bytes, example: 1 << 20, "largest screenshot"),
        .integer("max-connections", \.server.limits.maxConnections, in: 1...1_000_000, example: 64,
                 "open connections at most; more are answered 503 and closed (lowered to what the open-file limit allows)"),
        .seconds("idle-timeout", \.server.limits.idleTimeoutSeconds, example: 5,
                 "seconds a connection may sit idle, or take to send its request head"),
        .seconds("body-timeout", \.server.limits.bodyDeadlineSeconds, example: 5, "seconds a request body may take to arrive (408 past it)"),
        .seconds("store-timeout", \.server.limits.storeDeadlineSeconds, example: 5,
                 "seconds a request waits on a store before answering 503 with `Retry-After`"),
        .integer("request-memory", \.server.limits.requestMemoryBytes, in: bytes, example: 64 << 20,
                 "bytes of request bodies and decoded events held at once, all requests together (503 past it)"),
        .integer("spool-bytes", \.server.limits.spoolBytes, in: bytes, example: 64 << 20,
                 "bytes of large uploads spooled to disk at once, all requests together (503 past it)"),
        .integer("max-read-expansion", \.server.limits.maxReadExpansionBytes, in: bytes, example: 1 << 20,
                 "bytes one event may expand to on a read (422 past it)"),
        .integer("ingest-concurrency", \.server.limits.maxConcurrentIngest, in: 1...1024, example: 2,
                 "event batches rewritten at once (the rest wait; bounds CPU)"),
        .integer("asset-cache", \.server.assetCacheBytes, in: 0...bytes.upperBound, example: 1 << 20,
                 "bytes of recently read assets kept in memory across requests"),
        .integer("min-asset-size", get: { $0.server.rewrite.minStringSize }, set: { root, value in
            root.server.rewrite.minStringSize = value
            root.server.rewrite.minEmbeddedDataURISize = value
        }, in: 1...bytes.upperBound, example: 2048,
                 "string values (and base64 `data:` URIs inside text) of at least this many bytes become assets"),
        .integer("min-tree-size", \.server.rewrite.minTreeSize, in: 2...bytes.upperBound, example: 8192,
                 "objects and arrays of at least this many bytes (after their own big children were cut out) become tree assets"),
        .integer("rewrite-cache", \.server.rewrite.recentAssetsBytes, in: 0...bytes.upperBound, example: 1 << 20,
                 "bytes of each of the rewriter's two caches per batch (recent assets, repeated subtrees); the output is the same with 0"),
        .choice("log-level", \.logLevel, example: .debug, "least severe log level written"),
    ]) }
}
