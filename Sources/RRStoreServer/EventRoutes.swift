import HTTPTypes
import Hummingbird
import NIOCore
import RRStoreCore
import RRStoreStorage

/// `POST /recordings/{id}/events` (append, durable before the answer) and
/// `GET /recordings/{id}/events` (NDJSON, streamed).
struct EventRoutes {
    let state: ServerState

    func register(on router: Router<RRStoreRequestContext>) {
        router.post("/recordings/:id/events") { request, context in try await append(request, context) }
        router.get("/recordings/:id/events") { request, context in try await read(request, context) }
    }

    private func append(_ request: Request, _ context: RRStoreRequestContext) async throws -> Response {
        let id = try Identifier.recording(context)
        let idempotencyKey = request.headers[.idempotencyKey]
        if let idempotencyKey, !Identifier.isValid(Substring(idempotencyKey), extra: UInt8(ascii: ":")) {
            throw APIError.badRequest("invalid_idempotency_key", "Idempotency-Key must be 1 to 128 of A-Z a-z 0-9 . _ : -")
        }
        let mediaType = request.headers[.contentType].map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased() }
        let isNDJSON: Bool
        switch mediaType {
        case nil, "application/json", "text/json", "text/plain": isNDJSON = false
        case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines": isNDJSON = true
        case let other?:
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "events are application/json or application/x-ndjson (optionally with Content-Encoding: gzip), not \(other)")
        }
        let encoding = request.headers[.contentEncoding]?.trimmingCharacters(in: .whitespaces).lowercased()
        guard encoding == nil || encoding == "gzip" || encoding == "identity" else {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "Content-Encoding \(encoding!) is not supported; use gzip or none")
        }
        let keepReferences = ["1", "true", "yes"].contains(request.headers[.rrstoreRewritten]?.lowercased() ?? "")
        // Bodies wait their turn here: memory is bounded by the limit, not by connections.
        let outcome = try await state.ingestLimiter.withPermit {
            try await ingest(request, id: id, isNDJSON: isNDJSON, gzip: encoding == "gzip", keepReferences: keepReferences,
                             tenant: context.tenant, idempotencyKey: idempotencyKey)
        }
        var writer = JSONWriter()

        writer.beginObject()
        switch outcome {
        case .appended(let first, let count):
            writer.field("first_sequence", first)
            writer.field("count", count)
            writer.field("duplicate", false)
        case .duplicate(let first, let count):
            writer.field("first_sequence", first)
            writer.field("count", count)
            writer.field("duplicate", true)
        }
        writer.endObject()
        return writer.response(.accepted)
    }

    private func ingest(_ request: Request, id: String, isNDJSON: Bool, gzip: Bool, keepReferences: Bool,
                        tenant: String, idempotencyKey: String?) async throws -> AppendOutcome {
        let limits = state.configuration.limits
        let buffer = try await request.body.collect(upTo: limits.maxBodyBytes)
        var body = Array(buffer.readableBytesView)
        if gzip || body.starts(with: [0x1F, 0x8B]) {
            body = try GzipDecoder.decompress(body, maxOutputBytes: limits.maxDecodedBodyBytes)
        }
        let ingest = EventIngest(state: state)
        let batch = try ingest.rewrite(body: body, isNDJSON: isNDJSON, keepReferences: keepReferences, recording: id)
        body = []
        return try await ingest.commit(batch, tenant: tenant, recording: id, idempotencyKey: idempotencyKey)
    }

    private func read(_ request: Request, _ context: RRStoreRequestContext) async throws -> Response {
        let id = try Identifier.recording(context)
        let mode: RehydrateMode
        switch request.uri.queryParameters["assets"].map(String.init) {
        case nil, "inline": mode = .inline
        case "url": mode = .url(base: state.configuration.publicBaseURL, signer: state.authenticator.assetURLSigner(tenant: context.tenant))
        case let other?: throw APIError.badRequest("invalid_assets_mode", "assets must be inline or url, not '\(other.prefix(40))'")
        }
        guard let record = try await state.metadata.recording(tenant: context.tenant, id: id) else {
            throw APIError.notFound("no recording '\(id)'")
        }
        let reader = EventReader(state: state, mode: mode)
        let tenant = context.tenant
        let logger = context.logger
        let body = ResponseBody { writer in
            do {
                try await reader.stream(tenant: tenant, record: record) { bytes in
                    try await writer.write(ByteBuffer(bytes: bytes))
                }
                try await writer.finish(nil)
            } catch {
                // The status line is sent: all that is left is to cut the stream short, so
                // the client sees an incomplete body rather than a silently short one.
                logger.error("reading recording \(id) failed midway: \(error)")
                throw error
            }
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson", .cacheControl: "no-store"], body: body)
    }
}
