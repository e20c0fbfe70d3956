import Foundation
import Hummingbird
import NIOCore
import RRStoreCore
import RRStoreStorage
import RRStoreIO

/// The have-set (`POST /assets/missing`), uploads (`PUT /assets/{digest}`, re-hashed) and
/// reads (`GET`/`HEAD`, immutable, ranges). A tenant sees an asset only through its own
/// link: have-set answers and reads never tell what other tenants stored.
struct AssetRoutes {
    let state: ServerState

    func register(on router: Router<RRStoreRequestContext>) {
        router.post("/assets/missing") { request, context in try await missing(request, context) }
        router.post("/assets/batch") { request, context in try await batch(request, context) }
        router.put("/assets/:digest") { request, context in try await upload(request, context) }
        router.get("/assets/:digest") { request, context in try await read(request, context, includeBody: true) }
        router.head("/assets/:digest") { request, context in try await read(request, context, includeBody: false) }
    }

    private static func digest(_ context: RRStoreRequestContext) throws -> SHA256Digest {
        let text = Identifier.parameter("digest", context)
        guard let digest = SHA256Digest(parsing: text) else {
            throw APIError.badRequest("invalid_digest", "asset digests look like sha256:<64 lowercase hex>; got '\(text.prefix(80))'")
        }
        return digest
    }

    private struct MissingQuery: Decodable {
        struct Item: Decodable {
            var digest: String
            var size: Int
        }
        var assets: [Item]
    }

    private func missing(_ request: Request, _ context: RRStoreRequestContext) async throws -> Response {
        let max = state.configuration.limits.maxMissingQuery
        let buffer = try await collectBody(request, context: context, limit: max * 120 + 4096,
                                           deadline: state.configuration.limits.bodyDeadlineSeconds, memory: nil)
        let query: MissingQuery
        do {
            query = try JSONDecoder().decode(MissingQuery.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError.badRequest("invalid_body", "expected {\"assets\": [{\"digest\": \"sha256:<hex>\", \"size\": N}, ...]} (\(error))")
        }
        guard query.assets.count <= max else {
            throw APIError(.contentTooLarge, "too_large", "ask about at most \(max) assets per call, not \(query.assets.count)")
        }
        var digests: [SHA256Digest] = []
        for item in query.assets {
            guard let digest = SHA256Digest(parsing: item.digest) else {
                throw APIError.badRequest("invalid_digest", "'\(item.digest.prefix(80))' is not sha256:<64 lowercase hex>")
            }
            guard item.size >= 0 else { throw APIError.badRequest("invalid_size", "asset sizes are not negative") }
            digests.append(digest)
        }
        // Held means linked and indexed: an asset whose bytes were found missing is asked for
        // again. Touched, so the collector keeps what a client was just told is here.
        let linked = Set(try await state.heldAssets(tenant: context.tenant, among: digests).keys)
        var seen = Set<SHA256Digest>()
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("missing")
        writer.beginArray()
        for digest in digests where !linked.contains(digest) && seen.insert(digest).inserted {
            writer.string(digest.description)
        }
        writer.endArray()
        writer.endObject()
        return writer.response()
    }

    /// Bodies up to this size are hashed in memory; larger ones are spooled to a file.
    static let inMemoryUploadBytes = 4 << 20

    private func upload(_ request: Request, _ context: RRStoreRequestContext) async throws -> Response {
        let digest = try Self.digest(context)
        let limit = state.configuration.limits.maxAssetBytes
        if let length = request.headers[.contentLength].map({ HeaderValues.decimal($0) ?? .max }), length > limit {
            throw APIError(.contentTooLarge, "too_large", "assets are at most \(limit) bytes; this one has \(length)")
        }
        // Already linked to this tenant and touched within the hour: the upload only has to
        // prove the bytes (no write at all, so repeated uploads cost a hash). Bytes another
        // tenant stored are written like new ones (see `FileSystem.writeDurably`): the
        // answer and its timing must not tell that they were there.
        let linked = try await state.linkCache.linkedAsset(tenant: context.tenant, digest: digest, from: state.metadata)
        let recent = linked.map { ServerState.now() - $0.lastTouched < 3_600_000 } ?? false
        // The touch also proves the row is still there (the collector may have taken it
        // since the link was cached): if not, the bytes are stored again.
        let proveOnly = recent ? !(try await state.heldAssets(tenant: context.tenant, among: [digest])).isEmpty : false
        let admission = AssetAdmission(state: state), tenant = context.tenant
        let received = try await MemoryReservation.with(state.requestMemory) { memory in
            try await MemoryReservation.with(state.spoolSpace) { spoolSpace in
                // A tree or nested text names other assets, which reads would fetch along with
                // it: the tenant must hold those already (clients upload children first), and
                // the whole may not expand past one event. Checked before anything is written.
                try await receiveUpload(request, context, digest: digest, store: !proveOnly, memory: memory, spoolSpace: spoolSpace,
                                        checkMentions: linked == nil) { size, mentions in
                    try await admission.admit([.init(digest: digest, size: size, mentions: mentions)], lookUpCandidates: false,
                                              tenant: tenant, subject: .upload).expansions[digest] ?? size
                }
            }
        }
        let expansion = received.expansion
        let now = ServerState.now()
        if proveOnly {
            state.metrics.assetsReused.increment()
            return Response(status: .ok, headers: [.eTag: "\"\(digest)\""])
        }
        let mediaType = request.headers[.contentType].flatMap { $0.hasPrefix("application/octet-stream") ? nil : String($0.prefix(200)) }
        try await withStoreDeadline("indexing the upload") {
            try await state.metadata.registerUpload(AssetRecord(digest: digest, size: received.size, mediaType: mediaType, kind: received.kind,
                                                                firstStored: now, lastTouched: now, expansion: expansion),
                                                    tenant: context.tenant)
        }
        if received.created {
            state.metrics.assetsNew.increment()
            state.metrics.assetBytesNew.increment(by: Int64(received.size))
        } else {
            state.metrics.assetsReused.increment()
        }
        // 201 when this tenant did not hold the asset before, whether or not another tenant
        // had stored the same bytes: the answer must not tell.
        return Response(status: linked == nil ? .created : .ok, headers: [.eTag: "\"\(digest)\""])
    }

    private struct ReceivedUpload: Sendable {
        var size: Int
        var expansion: Int
        var kind: AssetRecord.Kind
        var created: Bool
    }

    /// Reads the body within the body deadline, hashing it (and scanning it for mentions);
    /// with `store`, keeps it (in memory, or spooled past 4 MiB) and, once the digest is
    /// proven and `admit` (given the size and mentions, answering the expansion) has passed,
    /// writes it create-only.
    private func receiveUpload(_ request: Request, _ context: RRStoreRequestContext, digest: SHA256Digest, store: Bool, memory: MemoryReservation,
                               spoolSpace: MemoryReservation, checkMentions: Bool,
                               admit: (Int, ReferenceMentions) async throws -> Int) async throws -> ReceivedUpload {
        let limit = state.configuration.limits.maxAssetBytes
        let spoolDirectory = state.configuration.spoolDirectory
        let seconds = state.configuration.limits.bodyDeadlineSeconds
        var hasher = SHA256Hasher()
        var mentions = ReferenceMentions()
        var inMemory: [UInt8] = []
        var spool: SpoolFile?
        var size = 0
        defer { spool?.remove() }
        // A body that will be spooled takes its spool space before it is read, so a refusal
        // comes before the client sends it (curl waits for it with `Expect: 100-continue`).
        if store, let declared = request.headers[.contentLength].flatMap({ HeaderValues.decimal($0) }), declared > Self.inMemoryUploadBytes {
            try spoolSpace.grow(to: declared)
        }
        try await readBody(request.body, context: context, deadline: seconds) { piece in
            size += piece.readableBytes
            guard size <= limit else { throw APIError(.contentTooLarge, "too_large", "assets are at most \(limit) bytes") }
            piece.withUnsafeReadableBytes {
                hasher.update($0)
                // What a tenant holds was checked when it got its link.
                if checkMentions { mentions.feed($0) }
            }
            guard store else { return }
            if spool == nil && inMemory.count + piece.readableBytes <= Self.inMemoryUploadBytes {
                try memory.add(piece.readableBytes)
                inMemory += piece.readableBytesView
                return
            }
            try spoolSpace.grow(to: size)
            if spool == nil {
                spool = try SpoolFile(directory: spoolDirectory)
                try spool?.append(inMemory)
                inMemory = []
            }
            try spool?.append(Array(piece.readableBytesView))
        }
        let actual = hasher.finalize()
        guard actual == digest else {
            throw APIError(.unprocessableContent, "digest_mismatch", "the body hashes to \(actual), not \(digest); nothing was stored")
        }
        let expansion = try await admit(size, mentions)
        guard store else { return ReceivedUpload(size: size, expansion: expansion, kind: .upload, created: false) }
        let kind = spool == nil ? AssetAdmission.uploadKind(inMemory) : .upload
        let assets = state.assets, bytes = inMemory, spoolPath = spool?.path, total = size, tenant = context.tenant
        let packing = try await state.storeFormat.packs(), policy = state.configuration.pack
        // The hash was checked above; what is stored may be compressed.
        let created = try await withStoreDeadline("storing the upload") { () -> Bool in
            if let spoolPath { return try await assets.loose.store(digest, file: spoolPath, size: total).0 == .created }
            return try await assets.store([(digest, bytes)], tenant: tenant, packing: packing, policy: policy, at: ServerState.now()).created > 0
        }
        return ReceivedUpload(size: size, expansion: expansion, kind: kind, created: created)
    }

    func withStoreDeadline<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let seconds = state.configuration.limits.storeDeadlineSeconds
        return try await withDeadline(seconds: seconds, { APIError.storeTimeout(what, seconds: seconds) }, body)
    }

    private func read(_ request: Request, _ context: RRStoreRequestContext, includeBody: Bool) async throws -> Response {
        let digest = try Self.digest(context)
        guard let record = try await state.linkCache.linkedAsset(tenant: context.tenant, digest: digest, from: state.metadata) else {
            throw APIError.notFound("no asset \(digest) for this tenant")
        }
        let etag = "\"\(digest)\""
        let served = HeaderValues.servedMediaType(record.mediaType)
        var headers: HTTPFields = [
            .eTag: etag,
            .cacheControl: Self.cacheControl(request, authOn: state.configuration.auth.mode != .none),
            .contentType: served.contentType,
            .acceptRanges: "bytes",
        ]
        // Assets are whatever tenants uploaded or recorded pages held: inert on this origin.
        headers[.xContentTypeOptions] = "nosniff"
        headers[.contentSecurityPolicy] = Self.assetPolicy
        // Any page may read an asset it can already fetch (no credentials travel with
        // `*`): a replay on another origin loads images with `crossorigin` and fonts only
        // through CORS. With --cors-origin, the CORS middleware's answer replaces this one.
        headers[.accessControlAllowOrigin] = "*"
        if served.attachment { headers[.contentDisposition] = "attachment" }
        // Either representation (as is, or gzip) matches: both are the same bytes.
        if let match = request.headers[.ifNoneMatch], match == "*" || match.contains(digest.description) {
            return Response(status: .notModified, headers: headers)
        }
        let size = record.size
        var range = 0..<size
        var status = HTTPResponse.Status.ok
        let rangeHeader = request.headers[.range]
        if let header = rangeHeader {
            guard let requested = ByteRange(header: header, size: size) else {
                headers[.contentRange] = "bytes */\(size)"
                throw APIError(.rangeNotSatisfiable, "invalid_range", "Range '\(header.prefix(80))' does not fit an asset of \(size) bytes")
            }
            range = requested.range
            status = .partialContent
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)"
        }
        headers[.contentLength] = String(range.count)
        guard includeBody else { return Response(status: status, headers: headers) }
        let assets = state.assets
        let likely = StoredEncoding.likely(kind: record.kind.assetKind, mediaType: record.mediaType)
        let wanted = range
        // Large assets are streamed from their own object. Small ones, and any asset that is
        // not an object of its own (packed under a larger --pack-threshold than today's), come
        // whole through `StoredAssets` (packed, staged, loose) and the shared cache.
        let mayBeLoose = size > Self.cachedAssetBytes && size >= state.configuration.pack.maxAssetBytes
        let located = mayBeLoose ? try await assets.loose.locate(digest, likely: likely) : nil
        guard let located else {
            let bytes: [UInt8]
            do {
                bytes = try await state.assetCache.bytes(digest, likely: likely, from: assets)
            } catch let error as RRStoreError where error.code == .missingAsset {
                try? await state.metadata.forgetIndexedAsset(digest)
                throw error
            }
            // The range was checked against the index's size: the bytes must agree with it.
            guard bytes.count == size else {
                throw RRStoreError(.corruptAsset, "asset \(digest) holds \(bytes.count) bytes, not the \(size) of its index row")
            }
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes[wanted])))
        }
        let key = BlobKey.asset(digest, located.encoding)
        let blobs = state.blobs
        if located.encoding == .identity {
            return Response(status: status, headers: headers, body: ResponseBody(contentLength: wanted.count) { writer in
                try await Self.copy(blobs, key, wanted, to: &writer)
            })
        }
        if rangeHeader == nil, Self.acceptsGzip(request) {
            // Stored as gzip and the client takes gzip: the stored bytes go out as they are.
            headers[.eTag] = "\"\(digest)+gzip\""
            headers[.contentEncoding] = "gzip"
            headers[.vary] = "Accept-Encoding"
            headers[.contentLength] = String(located.info.size)
            return Response(status: status, headers: headers, body: ResponseBody(contentLength: located.info.size) { writer in
                try await Self.copy(blobs, key, 0..<located.info.size, to: &writer)
            })
        }
        headers[.vary] = "Accept-Encoding"
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: wanted.count) { writer in
            try await Self.decompress(blobs, key, storedSize: located.info.size, wanted, to: &writer)
        })
    }

    /// Immutable either way; but with auth on, a bearer-authorized answer must not be
    /// shared by caches (`public` would let a CDN hand it to another tenant asking the same
    /// path), while a signed URL names its tenant and can be.
    private static func cacheControl(_ request: Request, authOn: Bool) -> String {
        let shared = !authOn || request.uri.queryParameters["signature"] != nil
        return (shared ? "public" : "private") + ", max-age=31536000, immutable"
    }

    /// Opened directly, an asset may run nothing and load nothing: a sandboxed, unique
    /// origin. (An `<img>` or a stylesheet using it is not affected.)
    static let assetPolicy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; sandbox"

    /// Assets up to this size are served from the in-memory cache, decompressed.
    private static let cachedAssetBytes = 1 << 20
    /// Large assets go out in pieces of this size, so memory stays bounded.
    private static let piece = 4 << 20

    private static func acceptsGzip(_ request: Request) -> Bool {
        request.headers[.acceptEncoding].map(HeaderValues.acceptsGzip) ?? false
    }

    private static func copy(_ blobs: any BlobStore, _ key: BlobKey, _ range: Range<Int>, to writer: inout any ResponseBodyWriter) async throws {
        var offset = range.lowerBound
        while offset < range.upperBound {
            let end = min(offset + piece, range.upperBound)
            try await writer.write(ByteBuffer(bytes: try await blobs.get(key, range: offset..<end)))
            offset = end
        }
        try await writer.finish(nil)
    }

    /// Streams the bytes `wanted` of a gzip-stored asset, decompressing piece by piece.
    private static func decompress(_ blobs: any BlobStore, _ key: BlobKey, storedSize: Int, _ wanted: Range<Int>,
                                   to writer: inout any ResponseBodyWriter) async throws {
        let decoder = GzipDecoder()
        var position = 0  // in the decompressed bytes
        var offset = 0    // in the stored bytes
        while offset < storedSize && position < wanted.upperBound {
            let end = min(offset + piece, storedSize)
            let stored = try await blobs.get(key, range: offset..<end)
            offset = end
            var out = ByteBuffer()
            try stored.withUnsafeBytes { input in
                try decoder.decode(input) { plain in
                    let here = position..<(position + plain.count)
                    position += plain.count
                    let overlap = here.clamped(to: wanted)
                    guard !overlap.isEmpty else { return }
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: plain[(overlap.lowerBound - here.lowerBound)..<(overlap.upperBound - here.lowerBound)]))
                }
            }
            if out.readableBytes > 0 { try await writer.write(out) }
        }
        guard position >= wanted.upperBound else {
            throw RRStoreError(.corruptAsset, "\(key) decompresses to \(position) bytes, fewer than its index says")
        }
        try await writer.finish(nil)
    }
}
