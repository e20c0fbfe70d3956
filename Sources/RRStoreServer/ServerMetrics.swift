import Hummingbird
import CoreMetrics
import Prometheus
import RRStoreStorage
import Synchronization

/// The service's Prometheus metrics, in a registry of its own (no global bootstrap, so
/// several applications can live in one test process).
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory

    let ingestEvents: CoreMetrics.Counter
    let ingestBytes: CoreMetrics.Counter
    let ingestStoredBytes: CoreMetrics.Counter
    let assetsNew: CoreMetrics.Counter
    let assetsReused: CoreMetrics.Counter
    let assetBytesNew: CoreMetrics.Counter
    let bytesSaved: CoreMetrics.Counter
    let flushes: CoreMetrics.Counter
    let flushedEvents: CoreMetrics.Counter
    let flushedBytes: CoreMetrics.Counter
    let flushConflicts: CoreMetrics.Counter
    let flushFailures: CoreMetrics.Counter
    let packsWritten: CoreMetrics.Counter
    let packedAssets: CoreMetrics.Counter
    let packedBytes: CoreMetrics.Counter
    let packFailures: CoreMetrics.Counter
    let retentionDeleted: CoreMetrics.Counter
    let gcRuns: CoreMetrics.Counter
    let gcFailures: CoreMetrics.Counter
    let gcAssetsDeleted: CoreMetrics.Counter
    let gcBytesReclaimed: CoreMetrics.Counter
    let gcPacksRewritten: CoreMetrics.Counter
    let gcOrphansDeleted: CoreMetrics.Counter
    let gcDuration: CoreMetrics.Timer

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [.milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
                                                   .milliseconds(250), .seconds(1), .seconds(5), .seconds(30)]
        self.factory = factory
        func counter(_ label: String) -> CoreMetrics.Counter { CoreMetrics.Counter(label: label, factory: factory) }
        ingestEvents = counter("rrstore_ingest_events_total")
        ingestBytes = counter("rrstore_ingest_raw_bytes_total")
        ingestStoredBytes = counter("rrstore_ingest_rewritten_bytes_total")
        assetsNew = counter("rrstore_assets_new_total")
        assetsReused = counter("rrstore_assets_reused_total")
        assetBytesNew = counter("rrstore_asset_bytes_new_total")
        bytesSaved = counter("rrstore_bytes_saved_total")
        flushes = counter("rrstore_flushes_total")
        flushedEvents = counter("rrstore_flushed_events_total")
        flushedBytes = counter("rrstore_flushed_chunk_bytes_total")
        flushConflicts = counter("rrstore_flush_conflicts_total")
        flushFailures = counter("rrstore_flush_failures_total")
        packsWritten = counter("rrstore_packs_written_total")
        packedAssets = counter("rrstore_packed_assets_total")
        packedBytes = counter("rrstore_pack_bytes_written_total")
        packFailures = counter("rrstore_pack_failures_total")
        retentionDeleted = counter("rrstore_retention_recordings_deleted_total")
        gcRuns = counter("rrstore_gc_runs_total")
        gcFailures = counter("rrstore_gc_failures_total")
        gcAssetsDeleted = counter("rrstore_gc_assets_deleted_total")
        gcBytesReclaimed = counter("rrstore_gc_bytes_reclaimed_total")
        gcPacksRewritten = counter("rrstore_gc_packs_rewritten_total")
        gcOrphansDeleted = counter("rrstore_gc_orphans_deleted_total")
        gcDuration = CoreMetrics.Timer(label: "rrstore_gc_duration_seconds", factory: factory)
    }

    func recordGC(_ report: GCReport) {
        gcRuns.increment()
        gcAssetsDeleted.increment(by: Int64(report.assets.count))
        gcBytesReclaimed.increment(by: Int64(report.bytesReclaimed))
        gcPacksRewritten.increment(by: Int64(report.packsRewritten))
        gcOrphansDeleted.increment(by: Int64(report.orphans.count))
        gcDuration.recordNanoseconds(Int64(report.seconds * 1e9))
    }

    private let authFailureCounters = Mutex<[String: CoreMetrics.Counter]>([:])

    /// Refused tokens, by reason (`expired`, `bad_signature`, ...).
    func authFailures(_ reason: String) -> CoreMetrics.Counter {
        authFailureCounters.withLock { cache in
            if let found = cache[reason] { return found }
            let made = CoreMetrics.Counter(label: "rrstore_auth_failures_total", dimensions: [("reason", reason)], factory: factory)
            cache[reason] = made
            return made
        }
    }

    /// Per-route handles, made once: the registry's lookup by name and labels is not free.
    private let requestMetrics = Mutex<[String: (CoreMetrics.Counter, CoreMetrics.Timer)]>([:])

    func recordRequest(method: String, route: String, status: Int, seconds: Double) {
        let key = "\(method) \(route) \(status)"
        let (counter, timer) = requestMetrics.withLock { cache in
            if let found = cache[key] { return found }
            let made = (CoreMetrics.Counter(label: "rrstore_http_requests_total",
                                            dimensions: [("method", method), ("route", route), ("status", String(status))], factory: factory),
                        CoreMetrics.Timer(label: "rrstore_http_request_duration_seconds",
                                          dimensions: [("method", method), ("route", route)], factory: factory))
            cache[key] = made
            return made
        }
        counter.increment()
        timer.recordNanoseconds(Int64(seconds * 1e9))
    }
}

/// Counts every request by method, matched route and status, and times it.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        func record(_ status: Int) {
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            // The route template, not the path: ids must not explode the label set.
            metrics.recordRequest(method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: status, seconds: seconds)
        }
        do {
            let response = try await next(request, context)
            record(response.status.code)
            return response
        } catch let error as any HTTPResponseError {
            record(error.status.code)
            throw error
        } catch {
            record(500)
            throw error
        }
    }
}
