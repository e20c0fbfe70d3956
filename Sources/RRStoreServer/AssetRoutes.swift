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
        var memory: [UInt8] = []
        var spool: SpoolFile?
        var size = 0
        defer { spool?.remove() }
        for try await piece in request.body {
            size += piece.readableBytes
            guard size <= limit else { throw APIError(.contentTooLarge, "too_large", "assets are at most \(limit) bytes") }
            piece.withUnsafeReadableBytes { hasher.update($0) }
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
        let now = ServerState.now()
        if let linked, now - linked.lastTouched < 3_600_000 {
            state.metrics.assetsReused.increment()
            return Response(status: .ok, headers: [.eTag: "\"\(digest)\""])
        }
        var created = false
        if !known {
            let expectation = BlobExpectation(digest: digest, size: size)
            let outcome: PutOutcome
            if let spool {
                outcome = try await state.blobs.putFile(.asset(digest), path: spool.path, expecting: expectation, createOnly: true)
            } else {
                outcome = try await state.blobs.put(.asset(digest), bytes: memory, expecting: expectation, createOnly: true)
            }
            created = outcome == .created
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
        return Response(status: created ? .created : .ok, headers: [.eTag: "\"\(digest)\""])
    }

    private func read(_ request: Request, _ context: RRStoreRequestContext, includeBody: Bool) async throws -> Response {
        let digest = try Self.digest(context)
        guard let record = try await state.linkCache.linkedAsset(tenant: context.tenant, digest: digest, from: state.metadata) else {
            throw APIError.notFound("no asset \(digest) for this tenant")
        }
        let etag = "\"\(digest)\""
        var headers: HTTPFields = [
            .eTag: etag,
            .cacheControl: "public, max-age=31536000, immutable",
            .contentType: record.mediaType ?? "application/octet-stream",
            .acceptRanges: "bytes",
        ]
        if let match = request.headers[.ifNoneMatch], match == etag || match == "*" {
            return Response(status: .notModified, headers: headers)
        }
        let size = record.size
        var range = 0..<size
        var status = HTTPResponse.Status.ok
        if let header = request.headers[.range] {
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
        let blobs = state.blobs
        let piece = 4 << 20
        let wanted = range
        if wanted.count <= piece {
            // Whole small assets come from the shared cache of recently read assets.
            let bytes = wanted.count == size && size <= (1 << 20)
                ? try await state.assetCache.bytes(digest, from: blobs)
                : try await blobs.get(.asset(digest), range: wanted.count == size ? nil : wanted)
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        let body = ResponseBody(contentLength: wanted.count) { writer in
            // Large assets go out in pieces, so memory stays bounded whatever their size.
            var offset = wanted.lowerBound
            while offset < wanted.upperBound {
                let end = min(offset + piece, wanted.upperBound)
                let bytes = try await blobs.get(.asset(digest), range: offset..<end)
                try await writer.write(ByteBuffer(bytes: bytes))
                offset = end
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
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
