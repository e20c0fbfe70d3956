import Foundation
import Hummingbird
import NIOCore
import RRStoreCore
import RRStoreStorage

/// The have-set (`POST /assets/missing`), uploads (`PUT /assets/{digest}`, re-hashed) and
/// reads (`GET`/`HEAD`, immutable, ranges). A tenant sees an asset only through its own
/// link: have-set answers and reads never tell what other tenants stored.
struct AssetRoutes {
    let state: ServerState

    func register(on router: Router<RRStoreRequestContext>) {
        router.post("/assets/missing") { request, context in try await missing(request, context) }
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
        let buffer = try await request.body.collect(upTo: max * 120 + 4096)
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
        let linked = try await state.metadata.linked(tenant: context.tenant, among: digests)
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
    private static let inMemoryUploadBytes = 4 << 20

    private func upload(_ request: Request, _ context: RRStoreRequestContext) async throws -> Response {
        let digest = try Self.digest(context)
        let limit = state.configuration.limits.maxAssetBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError(.contentTooLarge, "too_large", "assets are at most \(limit) bytes; this one has \(length)")
        }
        // Already linked to this tenant and touched within the hour: the upload only has to
        // prove the bytes (no write at all, so repeated uploads cost a hash).
        let linked = try await state.linkCache.linkedAsset(tenant: context.tenant, digest: digest, from: state.metadata)
        var known = linked != nil
        if !known { known = try await state.metadata.indexedAssets(among: [digest]).contains(digest) }
        var hasher = SHA256Hasher()
        var mentions = ReferenceMentions()
        var memory: [UInt8] = []
        var spool: SpoolFile?
        var size = 0
        defer { spool?.remove() }
        for try await piece in request.body {
            size += piece.readableBytes
            guard size <= limit else { throw APIError(.contentTooLarge, "too_large", "assets are at most \(limit) bytes") }
            piece.withUnsafeReadableBytes {
                hasher.update($0)
                // What a tenant holds was checked when it got its link.
                if linked == nil { mentions.feed($0) }
            }
            // Bytes the store already holds only need hashing: the upload proves possession.
            if known { continue }
            if spool == nil && memory.count + piece.readableBytes <= Self.inMemoryUploadBytes {
                memory += piece.readableBytesView
                continue
            }
            if spool == nil {
                spool = try SpoolFile(directory: state.configuration.spoolDirectory)
                try spool!.append(memory)
                memory = []
            }
            try spool!.append(Array(piece.readableBytesView))
        }
        let actual = hasher.finalize()
        guard actual == digest else {
            throw APIError(.unprocessableContent, "digest_mismatch", "the body hashes to \(actual), not \(digest); nothing was stored")
        }
        // A tree or nested text names other assets, which reads would fetch along with it:
        // the tenant must hold those already (clients upload children first).
        let mentioned = mentions.digests.subtracting([digest])
        if !mentioned.isEmpty {
            let held = try await state.metadata.linked(tenant: context.tenant, among: Array(mentioned))
            let unknown = mentioned.subtracting(held).sorted()
            if !unknown.isEmpty {
                throw APIError(.unprocessableContent, "unknown_assets",
                               "this asset references \(unknown.count) asset(s) this tenant has not uploaded, e.g. \(unknown[0]); upload those first; nothing was stored")
            }
        }
        let now = ServerState.now()
        if let linked, now - linked.lastTouched < 3_600_000 {
            state.metrics.assetsReused.increment()
            return Response(status: .ok, headers: [.eTag: "\"\(digest)\""])
        }
        var created = false
        if !known {
            // The hash was checked above; what is stored may be the gzip of these bytes.
            let outcome = if let spool {
                try await state.assets.store(digest, file: spool.path, size: size)
            } else {
                try await state.assets.store(digest, bytes: memory)
            }
            created = outcome.0 == .created
        }
        let mediaType = request.headers[.contentType].flatMap { $0.hasPrefix("application/octet-stream") ? nil : String($0.prefix(200)) }
        try await state.metadata.registerUpload(AssetRecord(digest: digest, size: size, mediaType: mediaType, kind: "upload", firstStored: now, lastTouched: now),
                                                tenant: context.tenant)
        if created {
            state.metrics.assetsNew.increment()
            state.metrics.assetBytesNew.increment(by: Int64(size))
        } else {
            state.metrics.assetsReused.increment()
        }
        // 201 when this tenant did not hold the asset before, whether or not another tenant
        // had stored the same bytes: the answer must not tell.
        return Response(status: linked == nil ? .created : .ok, headers: [.eTag: "\"\(digest)\""])
    }

    private func read(_ request: Request, _ context: RRStoreRequestContext, includeBody: Bool) async throws -> Response {
        let digest = try Self.digest(context)
        guard let record = try await state.linkCache.linkedAsset(tenant: context.tenant, digest: digest, from: state.metadata) else {
            throw APIError.notFound("no asset \(digest) for this tenant")
        }
        let etag = "\"\(digest)\""
        var headers: HTTPFields = [
            .eTag: etag,
            .cacheControl: Self.cacheControl(request, authOn: state.configuration.auth.mode != .none),
            .contentType: record.mediaType ?? "application/octet-stream",
            .acceptRanges: "bytes",
        ]
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
        let likely = StoredEncoding.likely(kind: AssetKind(rawValue: record.kind), mediaType: record.mediaType)
        let wanted = range
        if size <= Self.cachedAssetBytes {
            // Small assets come whole from the shared cache of recently read assets.
            let bytes = try await state.assetCache.bytes(digest, likely: likely, from: assets)
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes[wanted])))
        }
        guard let located = try await assets.locate(digest, likely: likely) else {
            throw RRStoreError(.missingAsset, "asset \(digest) is linked but missing from the blob store")
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

    /// Assets up to this size are served from the in-memory cache, decompressed.
    private static let cachedAssetBytes = 1 << 20
    /// Large assets go out in pieces of this size, so memory stays bounded.
    private static let piece = 4 << 20

    private static func acceptsGzip(_ request: Request) -> Bool {
        guard let accept = request.headers[.acceptEncoding]?.lowercased() else { return false }
        return accept.split(separator: ",").contains { item in
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            return parts.first == "gzip" && !parts.dropFirst().contains { $0.replacingOccurrences(of: " ", with: "") == "q=0" }
        }
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

/// One `bytes=` range of RFC 9110 (`a-b`, `a-`, `-n`); several ranges are not served.
struct ByteRange {
    var range: Range<Int>

    init?(header: String, size: Int) {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let suffix = Int(last), suffix > 0, size > 0 else { return nil }
            range = max(0, size - suffix)..<size
        } else {
            guard let start = Int(first), start >= 0, start < size else { return nil }
            if last.isEmpty {
                range = start..<size
            } else {
                guard let end = Int(last), end >= start else { return nil }
                range = start..<min(end + 1, size)
            }
        }
    }
}

/// A temporary file for a large upload, removed when the request is done.
struct SpoolFile {
    let path: String
    private let fd: Int32

    init(directory: String) throws {
        try FileSystem.makeDirectories(directory)
        var template = Array("\(directory)/rrstore-upload-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw RRStoreError(.io, "cannot create a spool file in \(directory): \(String(cString: strerror(errno)))") }
        self.fd = fd
        path = String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw RRStoreError(.io, "writing spool file \(path): \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }

    func remove() {
        close(fd)
        unlink(path)
    }
}
