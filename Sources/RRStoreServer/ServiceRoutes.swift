import Hummingbird
import RRStoreIO
import NIOCore
import RRStoreStorage
import Synchronization

/// `GET /healthz` (liveness: the process answers), `GET /readyz` (readiness: it can take
/// work now) and `GET /metrics` (Prometheus text format).
struct ServiceRoutes {
    let state: ServerState

    func register(on router: Router<RRStoreRequestContext>) {
        router.get("/healthz") { _, _ in
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("status", "ok")
            writer.endObject()
            return writer.response()
        }
        router.get("/readyz") { _, _ in try await readiness() }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: state.metrics.registry.emitToBuffer())))
        }
    }

    /// Ready unless a store does not answer within a few seconds, the request memory or
    /// connection budgets are nearly spent, or batches queue for the rewrite slots. Store answers are remembered for two
    /// seconds, so probing `/readyz` (it needs no token) cannot load the stores.
    private func readiness() async throws -> Response {
        var problems = try await state.storeProbe.problems(state)
        let memory = state.requestMemory
        if memory.inUse * 10 > memory.capacity * 9 {
            problems.append("request memory is \(memory.inUse >> 20) of \(memory.capacity >> 20) MiB")
        }
        let queued = state.ingestLimiter.waiting
        if queued > 4 * state.ingestLimiter.limit {
            problems.append("\(queued) event batches wait for one of \(state.ingestLimiter.limit) rewrite slots")
        }
        if state.connections.current * 10 > state.connections.limit * 9 {
            problems.append("\(state.connections.current) of \(state.connections.limit) connections are open")
        }
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("status", problems.isEmpty ? "ready" : "unavailable")
        writer.key("problems")
        writer.beginArray()
        for problem in problems { writer.string(problem) }
        writer.endArray()
        writer.endObject()
        var response = writer.response(problems.isEmpty ? .ok : .serviceUnavailable)
        if !problems.isEmpty { response.headers[.retryAfter] = "5" }
        return response
    }
}

/// The last answer of each store to a cheap probe, for `/readyz`.
final class StoreProbe: Sendable {
    private struct Last {
        var at: ContinuousClock.Instant
        var problems: [String]
    }
    private let last = Mutex<Last?>(nil)

    func problems(_ state: ServerState) async throws -> [String] {
        let now = ContinuousClock.now
        if let cached = last.withLock({ $0 }), now - cached.at < .seconds(2) { return cached.problems }
        var problems: [String] = []
        let metadata = state.metadata, blobs = state.blobs
        let seconds = min(5, state.configuration.limits.storeDeadlineSeconds)
        do {
            _ = try await withDeadline(seconds: seconds, { StoreProbeTimeout() }) { try await metadata.schemaVersion() }
        } catch {
            problems.append("the metadata store did not answer within \(Int(seconds)) s")
        }
        do {
            _ = try await withDeadline(seconds: seconds, { StoreProbeTimeout() }) { try await blobs.head(try BlobKey("readyz-probe")) }
        } catch {
            problems.append("the blob store did not answer within \(Int(seconds)) s")
        }
        last.withLock { $0 = Last(at: now, problems: problems) }
        return problems
    }
}

private struct StoreProbeTimeout: Error {}
