import Hummingbird
import NIOCore

/// `GET /healthz` (liveness) and `GET /metrics` (Prometheus text format).
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
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: state.metrics.registry.emitToBuffer())))
        }
    }
}
