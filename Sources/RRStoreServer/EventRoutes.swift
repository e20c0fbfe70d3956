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
        let mediaType = request.headers[.contentType].map(HeaderValues.mediaTypeEssence)
        let isNDJSON: Bool
        switch mediaType {
        case nil, "application/json", "text/json", "text/plain": isNDJSON = false
        case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines": isNDJSON = true
        case let other?:
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "events are application/json or application/x-ndjson (optionally with Content-Encoding: gzip), not '\(other.prefix(80))'")
        }
        let encoding = request.headers[.contentEncoding].map(HeaderValues.mediaTypeEssence)
        if let encoding, encoding != "gzip", encoding != "x-gzip", encoding != "identity" {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "Content-Encoding '\(encoding.prefix(80))' is not supported; use gzip or none")
        }
        let keepReferences = ["1", "true", "yes"].contains(request.headers[.rrstoreRewritten]?.lowercased() ?? "")
        let gzip = encoding == "gzip" || encoding == "x-gzip"
        let outcome = try await MemoryReservation.with(state.requestMemory) { memory in
            // The body arrives first (within its deadline, charged to the memory budget);
            // only then does the batch take one of the few rewrite slots, so a slow client
            // holds no slot, and a stalled store holds none either (the commit is outside).
            let limits = state.configuration.limits
            let buffer = try await collectBody(request, context: context, limit: limits.maxBodyBytes,
                                               deadline: limits.bodyDeadlineSeconds, memory: memory)
            let (batch, sequence) = try await state.ingestLimiter.withPermit {
                try decodeAndRewrite(buffer, gzip: gzip, isNDJSON: isNDJSON, keepReferences: keepReferences, recording: id, memory: memory)
            }
            let ingest = EventIngest(state: state)
            guard let sequence else {
                return try await ingest.commit(batch, tenant: context.tenant, recording: id,
                                               idempotencyKey: idempotencyKey, requestDigest: batch.eventsDigest)
            }
            // The original client's envelope: committed in its page's order, and its place
            // in that order names it, so a retried envelope is stored once.
            let key = EnvelopeOrder.Key(tenant: context.tenant, recording: id)
            return try await state.envelopes.inTurn(key, sequence: sequence) {
                try await ingest.commit(batch, tenant: context.tenant, recording: id,
                                        idempotencyKey: idempotencyKey ?? "sequence:\(sequence)", requestDigest: batch.eventsDigest)
            }
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

    /// Undoes gzip (charging the decoded bytes to `memory` as they come) and rewrites the
    /// events; also returns the original client's envelope `sequence`, if any.
    private func decodeAndRewrite(_ buffer: ByteBuffer, gzip: Bool, isNDJSON: Bool, keepReferences: Bool, recording: String,
                                  memory: MemoryReservation) throws -> (EventIngest.Batch, Int?) {
        let limits = state.configuration.limits
        var body = Array(buffer.readableBytesView)
        if gzip || body.starts(with: [0x1F, 0x8B]) {
            let decoder = GzipDecoder(maxOutputBytes: limits.maxDecodedBodyBytes)
            var decoded: [UInt8] = []
            try body.withUnsafeBytes { input in
                try decoder.decode(input) { piece in
                    try memory.add(piece.count)
                    decoded.append(contentsOf: piece)
                }
            }
            try decoder.finish()
            body = decoded
        }
        return try EventIngest(state: state).rewrite(body: body, isNDJSON: isNDJSON, keepReferences: keepReferences,
                                                     recording: recording, reservation: memory)
    }

    private func read(_ request: Request, _ context: RRStoreRequestContext) async throws -> Response {
        let id = try Identifier.recording(context)
        let mode: RehydrateMode
        switch request.uri.queryParameters["assets"].map(String.init) {
        case nil, "inline": mode = .inline
        case "url": mode = .url(base: try AssetLinkBase.resolve(request, state.configuration), signer: state.authenticator.assetURLSigner(tenant: context.tenant))
        case let other?: throw APIError.badRequest("invalid_assets_mode", "assets must be inline or url, not '\(other.prefix(40))'")
        }
        guard let record = try await state.metadata.recording(tenant: context.tenant, id: id) else {
            throw APIError.notFound("no recording '\(id)'")
        }
        var reader = EventReader(state: state, mode: mode, tenant: context.tenant, record: record)
        if try ReadForm.from(request, state.configuration) == .original { reader.answerInOriginalForm() }
        // The first piece is read before the status line goes out: a store that fails
        // now gets a proper error answer (503), not a 200 cut short.
        let first = try await reader.next()
        let logger = context.logger
        let body = ResponseBody { [reader] writer in
            var reader = reader
            do {
                if let first { try await writer.write(ByteBuffer(bytes: first)) }
                while let piece = try await reader.next() {
                    try await writer.write(ByteBuffer(bytes: piece))
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
