import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RRStoreCore
import RRStoreIO
import RRStoreStorage

/// `/recordings`: create (server id or client id), get, list newest first, delete, and
/// the screenshot, which is stored content-addressed in the blob store.
struct RecordingRoutes {
    let state: ServerState

    func register(on router: Router<RRStoreRequestContext>) {
        router.post("/recordings") { request, context in try await create(request, context, id: nil) }
        router.get("/recordings") { request, context in try await list(request, context) }
        router.put("/recordings/:id") { request, context in try await create(request, context, id: try Identifier.recording(context)) }
        router.get("/recordings/:id") { _, context in
            Self.json(for: try await existing(context), status: .ok)
        }
        router.delete("/recordings/:id") { _, context in try await delete(context) }
        router.get("/recordings/:id/screenshot") { _, context in try await screenshot(context) }
        router.put("/recordings/:id/screenshot") { request, context in try await putScreenshot(request, context) }
        router.get("/usage") { _, context in try await usage(context) }
        router.get("/recordings/:id/storage") { _, context in try await storage(context) }
    }

    /// What one recording's assets are and what they cost: each with its kind, raw size and
    /// how many of the tenant's recordings name it (the viewer's storage panel). Counted
    /// from the tenant's rows only, like `/usage`.
    private func storage(_ context: RRStoreRequestContext) async throws -> Response {
        let record = try await existing(context)
        let seconds = state.configuration.limits.storeDeadlineSeconds, metadata = state.metadata, tenant = context.tenant
        let assets = try await withDeadline(seconds: seconds, { APIError.storeTimeout("reading a recording's assets", seconds: seconds) }) {
            try await metadata.recordingAssets(tenant: tenant, recording: record.id)
        }
        let shared = assets.reduce(0) { $0 + ($1.recordings > 1 ? $1.size : 0) }
        let alone = assets.reduce(0) { $0 + $1.size } - shared
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("id", record.id)
        writer.field("event_bytes", record.byteCount)
        writer.field("asset_bytes_in_this_recording_only", alone)
        writer.field("asset_bytes_shared_with_other_recordings", shared)
        writer.key("assets")
        writer.beginArray()
        for asset in assets {
            writer.beginObject()
            writer.field("digest", asset.digest.description)
            writer.field("kind", asset.kind.stored)
            writer.field("size", asset.size)
            writer.field("recordings", asset.recordings)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.response()
    }

    /// What the tenant stores, from its own rows only: what other tenants store, and
    /// whether they hold the same assets, never shows (it would tell them apart).
    private func usage(_ context: RRStoreRequestContext) async throws -> Response {
        let seconds = state.configuration.limits.storeDeadlineSeconds, metadata = state.metadata, tenant = context.tenant
        let usage = try await withDeadline(seconds: seconds, { APIError.storeTimeout("reading usage", seconds: seconds) }) {
            try await metadata.usage(tenant: tenant)
        }
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("tenant", context.tenant)
        writer.field("recordings", usage.recordings)
        writer.field("events", usage.events)
        writer.field("raw_bytes", usage.rawBytes)
        writer.field("chunk_bytes", usage.chunkBytes)
        writer.field("assets", usage.assets)
        writer.field("asset_bytes", usage.assetBytes)
        writer.field("asset_bytes_shared_by_recordings", usage.sharedAssetBytes)
        writer.field("asset_bytes_in_one_recording", usage.assetBytes - usage.sharedAssetBytes)
        writer.endObject()
        return writer.response()
    }

    private struct CreateBody: Decodable {
        var id: String?
        var screenshot: String?
    }

    private func create(_ request: Request, _ context: RRStoreRequestContext, id pathID: String?) async throws -> Response {
        let limit = state.configuration.limits.maxScreenshotBytes * 2 + 4096
        let buffer = try await collectBody(request, context: context, limit: limit,
                                           deadline: state.configuration.limits.bodyDeadlineSeconds, memory: nil)
        var body = CreateBody()
        if buffer.readableBytes > 0 && buffer.readableBytesView.contains(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) {
            do {
                body = try JSONDecoder().decode(CreateBody.self, from: Data(buffer.readableBytesView))
            } catch {
                throw APIError.badRequest("invalid_body", "the body must be a JSON object like {\"id\": \"...\", \"screenshot\": \"data:image/png;base64,...\"} (\(error))")
            }
        }
        if let bodyID = body.id, !Identifier.isValidRecordingID(Substring(bodyID)) {
            throw APIError.badRequest("invalid_id", "\(Identifier.recordingIDRule); got '\(bodyID.prefix(140))'")
        }
        if let pathID, let bodyID = body.id, bodyID != pathID {
            throw APIError.badRequest("id_mismatch", "the body's id '\(bodyID)' differs from the path's '\(pathID)'")
        }
        let screenshot = try body.screenshot.map { try Screenshot(text: $0, limit: state.configuration.limits.maxScreenshotBytes) }
        let id = pathID ?? body.id ?? Self.generateID()
        let (record, created) = try await state.metadata.createRecording(RecordingRecord(tenant: context.tenant, id: id, createdAt: ServerState.now()))
        var stored = record
        // A recording its events created (`createOnAppend`) gets its screenshot from the
        // client's later PUT; one that has a screenshot keeps it.
        if created || record.screenshot == nil, let screenshot {
            stored = try await store(screenshot, tenant: context.tenant, id: id) ?? record
        }
        var headers: HTTPFields = [:]
        if created { headers[.location] = "/recordings/\(id)" }
        return Self.json(for: stored, status: created ? .created : .ok, headers: headers)
    }

    private func list(_ request: Request, _ context: RRStoreRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        var limit = 100
        if let text = query["limit"] {
            guard let value = Int(String(text)), (1...state.configuration.limits.maxListLimit).contains(value) else {
                throw APIError.badRequest("invalid_limit", "limit must be an integer from 1 to \(state.configuration.limits.maxListLimit)")
            }
            limit = value
        }
        var cursor: RecordingCursor?
        if let text = query["cursor"] {
            guard let parsed = Self.parseCursor(String(text)) else {
                throw APIError.badRequest("invalid_cursor", "cursor must be the `cursor` of a recording from a previous page")
            }
            cursor = parsed
        }
        // One more than asked tells whether there is a next page.
        let page = try await state.metadata.listRecordings(tenant: context.tenant, limit: limit + 1, after: cursor)
        let shown = page.prefix(limit)
        if try ReadForm.from(request, state.configuration) == .original { return try await originalListing(shown) }
        var writer = JSONWriter()
        writer.beginArray()
        for record in shown { Self.write(record, to: &writer) }
        writer.endArray()
        var headers: HTTPFields = [:]
        if page.count > limit, let last = shown.last {
            headers[.link] = "</recordings?limit=\(limit)&cursor=\(Self.cursor(last))>; rel=\"next\""
        }
        return writer.response(headers: headers)
    }

    private func existing(_ context: RRStoreRequestContext) async throws -> RecordingRecord {
        let id = try Identifier.recording(context)
        guard let record = try await state.metadata.recording(tenant: context.tenant, id: id) else {
            throw APIError.notFound("no recording '\(id)'")
        }
        return record
    }

    private func delete(_ context: RRStoreRequestContext) async throws -> Response {
        let id = try Identifier.recording(context)
        guard try await RecordingDeletion(state: state).delete(tenant: context.tenant, id: id, logger: context.logger) else {
            throw APIError.notFound("no recording '\(id)'")
        }
        return Response(status: .noContent)
    }

    private func screenshot(_ context: RRStoreRequestContext) async throws -> Response {
        let record = try await existing(context)
        guard let digest = record.screenshot else { throw APIError.notFound("recording '\(record.id)' has no screenshot") }
        let bytes = try await state.assetCache.bytes(digest, likely: .identity, from: state.assets)
        return Response(status: .ok, headers: [.contentType: record.screenshotType ?? "application/octet-stream",
                                               .eTag: "\"\(digest)\"", .cacheControl: "private, max-age=60"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private func putScreenshot(_ request: Request, _ context: RRStoreRequestContext) async throws -> Response {
        let id = try Identifier.recording(context)
        let buffer = try await collectBody(request, context: context, limit: state.configuration.limits.maxScreenshotBytes,
                                           deadline: state.configuration.limits.bodyDeadlineSeconds, memory: nil)
        let declared = request.headers[.contentType].map(HeaderValues.mediaTypeEssence)
        let shot = try Screenshot(bytes: Array(buffer.readableBytesView), declaredType: declared)
        guard try await store(shot, tenant: context.tenant, id: id) != nil else { throw APIError.notFound("no recording '\(id)'") }
        return Response(status: .noContent)
    }

    /// Stores the image as a blob, then points the recording at it.
    private func store(_ shot: Screenshot, tenant: String, id: String) async throws -> RecordingRecord? {
        let digest = SHA256Digest.hash(shot.bytes)
        guard try await state.metadata.recording(tenant: tenant, id: id) != nil else { return nil }
        _ = try await state.assets.store([(digest, shot.bytes)], tenant: tenant, packing: try await state.storeFormat.packs(),
                                         policy: state.configuration.pack, at: ServerState.now())
        let now = ServerState.now()
        try await state.metadata.upsertAsset(AssetRecord(digest: digest, size: shot.bytes.count, mediaType: shot.mediaType, kind: .screenshot,
                                                         firstStored: now, lastTouched: now))
        guard try await state.metadata.setScreenshot(tenant: tenant, id: id, digest: digest, mediaType: shot.mediaType) else { return nil }
        return try await state.metadata.recording(tenant: tenant, id: id)
    }

    // MARK: Representation

    static func json(for record: RecordingRecord, status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        var writer = JSONWriter()
        write(record, to: &writer)
        return writer.response(status, headers: headers)
    }

    static func write(_ record: RecordingRecord, to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("id", record.id)
        writer.field("created_at", Timestamp.iso8601(milliseconds: record.createdAt))
        writer.field("event_count", record.eventCount)
        writer.field("byte_count", record.byteCount)
        writer.field("received_bytes", record.receivedBytes)
        writer.field("screenshot", record.screenshot == nil ? nil : "/recordings/\(record.id)/screenshot")
        // The events' own times and first page (what the recorder wrote, so checked here:
        // a time outside years 1970–9999 is shown as unknown).
        let summary = record.summary
        writer.field("started_at", summary.firstTimestamp.flatMap { (0...latestTimestamp).contains($0) ? Timestamp.iso8601(milliseconds: $0) : nil })
        writer.field("duration_ms", summary.durationMilliseconds)
        writer.field("first_url", summary.firstURL)
        writer.field("cursor", cursor(record))
        writer.endObject()
    }

    /// 9999-12-31T23:59:59.999Z.
    static let latestTimestamp: Int64 = 253_402_300_799_999

    /// `<created-at ms>-<id>`: digits, then the id (which may hold `-` itself).
    static func cursor(_ record: RecordingRecord) -> String { "\(record.createdAt)-\(record.id)" }

    static func parseCursor(_ text: String) -> RecordingCursor? {
        guard let dash = text.firstIndex(of: "-"), let createdAt = Int64(text[..<dash]) else { return nil }
        let id = text[text.index(after: dash)...]
        guard Identifier.isValidRecordingID(id) else { return nil }
        return RecordingCursor(createdAt: createdAt, id: String(id))
    }

    /// 26 characters: the time in milliseconds (so ids sort roughly by creation) and 80
    /// random bits, in base 32.
    static func generateID() -> String {
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
        var value = UInt64(ServerState.now())
        var chars = [UInt8](repeating: 0, count: 26)
        for i in (0..<10).reversed() { chars[i] = alphabet[Int(value & 31)]; value >>= 5 }
        var random = SystemRandomNumberGenerator()
        for i in 10..<26 { chars[i] = alphabet[Int(random.next() & 31)] }
        return String(decoding: chars, as: UTF8.self)
    }
}

/// A recording's thumbnail: decoded bytes and an image media type.
struct Screenshot {
    var bytes: [UInt8]
    var mediaType: String

    /// From a create body: `data:image/<type>;base64,<payload>` or bare base64.
    init(text: String, limit: Int) throws {
        var payload = Substring(text)
        var declared: String?
        if payload.hasPrefix("data:") {
            guard let comma = payload.firstIndex(of: ","), payload[..<comma].hasSuffix(";base64") else {
                throw APIError.badRequest("invalid_screenshot", "a screenshot data URL must look like data:image/png;base64,<payload>")
            }
            declared = String(payload[payload.index(payload.startIndex, offsetBy: 5)..<comma].dropLast(";base64".count)).lowercased()
            payload = payload[payload.index(after: comma)...]
        }
        guard let bytes = Base64.decodeCanonical(String(payload)) else {
            throw APIError.badRequest("invalid_screenshot", "the screenshot is not valid base64")
        }
        guard bytes.count <= limit else {
            throw APIError(.contentTooLarge, "too_large", "the screenshot has \(bytes.count) bytes; the limit is \(limit)")
        }
        try self.init(bytes: bytes, declaredType: declared)
    }

    init(bytes: [UInt8], declaredType: String?) throws {
        guard let sniffed = Screenshot.sniff(bytes) else {
            throw APIError.badRequest("invalid_screenshot", "the screenshot is not a PNG, JPEG, WebP or GIF image")
        }
        if let declaredType, declaredType.hasPrefix("image/"), declaredType != sniffed {
            throw APIError.badRequest("invalid_screenshot", "the screenshot is declared \(declaredType) but its bytes are \(sniffed)")
        }
        self.bytes = bytes
        mediaType = sniffed
    }

    static func sniff(_ b: [UInt8]) -> String? {
        if b.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if b.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if b.count >= 12, b.starts(with: Array("RIFF".utf8)), Array(b[8..<12]) == Array("WEBP".utf8) { return "image/webp" }
        if b.starts(with: Array("GIF87a".utf8)) || b.starts(with: Array("GIF89a".utf8)) { return "image/gif" }
        return nil
    }
}
