#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import RRStoreCore
import RRStoreHTTP
import RRStoreIO

public struct S3Configuration: Sendable {
    /// `https://s3.<region>.amazonaws.com`, or an S3-compatible server such as `http://127.0.0.1:9000`.
    public var endpoint: String
    public var bucket: String
    public var region: String
    /// Prepended to every key (e.g. `prod/`), so several deployments can share a bucket.
    public var prefix: String
    /// `endpoint/bucket/key` (path style) or `bucket.endpoint/key` (virtual-hosted).
    public var pathStyle: Bool
    public var credentials: AWSCredentials
    /// Attempts per request, the first included, on 5xx, SlowDown, RequestTimeout and
    /// connection errors; exponential backoff with full jitter between them.
    public var maxAttempts: Int = 6
    public var baseDelaySeconds: Double = 0.05
    public var maxDelaySeconds: Double = 5
    /// Files larger than this are uploaded in parts of `partSize` (S3's minimum is 5 MiB).
    public var multipartThreshold: Int = 64 << 20
    public var partSize: Int = 16 << 20
    public var connectTimeoutMilliseconds: Int = 5000
    /// A transfer that moves no byte for this long is abandoned and retried.
    public var stallSeconds: Int = 30

    public init(endpoint: String, bucket: String, region: String = "us-east-1", prefix: String = "",
                pathStyle: Bool = true, credentials: AWSCredentials) {
        var endpoint = endpoint
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.prefix = prefix
        self.pathStyle = pathStyle
        self.credentials = credentials
    }
}

/// Blobs in an S3 bucket (AWS or any S3-compatible server) over libcurl, signed with SigV4.
///
/// Every body is sent with its real `x-amz-content-sha256`, so S3 verifies it; create-only
/// puts use `If-None-Match: *` (412 means the key is taken: for content-addressed keys,
/// success). Requests are retried with backoff and jitter; files above the multipart
/// threshold go up in parts, and an upload that fails is aborted.
public final class S3BlobStore: BlobStore {
    public let configuration: S3Configuration
    private let transport: CurlTransport
    private let signer: SigV4Signer
    private let scheme: String
    private let host: String

    public init(configuration: S3Configuration) throws {
        self.configuration = configuration
        guard let schemeEnd = configuration.endpoint.firstRange(of: "://") else {
            throw RRStoreError(.invalidConfiguration, "S3 endpoint '\(configuration.endpoint)' needs a scheme, e.g. https://s3.us-east-1.amazonaws.com")
        }
        scheme = String(configuration.endpoint[..<schemeEnd.lowerBound])
        let rest = configuration.endpoint[schemeEnd.upperBound...]
        let authority = rest.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        guard !authority.isEmpty, !configuration.bucket.isEmpty else {
            throw RRStoreError(.invalidConfiguration, "S3 needs an endpoint host and a bucket name")
        }
        host = configuration.pathStyle ? authority : "\(configuration.bucket).\(authority)"
        guard configuration.partSize >= 5 << 20 else {
            throw RRStoreError(.invalidConfiguration, "S3 multipart parts must be at least 5 MiB")
        }
        signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
        transport = CurlTransport(connectTimeoutMilliseconds: configuration.connectTimeoutMilliseconds,
                                  stallSeconds: configuration.stallSeconds)
    }

    // MARK: BlobStore

    public func put(_ key: BlobKey, bytes: [UInt8], expecting: BlobExpectation?, createOnly: Bool) async throws -> PutOutcome {
        let digest = SHA256Digest.hash(bytes)
        try expecting?.check(digest: digest, size: bytes.count, key: key)
        return try await BlockingIO.run {
            try self.putObject(key, body: .bytes(bytes), payloadHash: digest.hex, createOnly: createOnly)
        }
    }

    public func putFile(_ key: BlobKey, path: String, expecting: BlobExpectation?, createOnly: Bool) async throws -> PutOutcome {
        try await BlockingIO.run {
            // Hash first (the signature needs the payload hash before the body is sent).
            let (digest, size) = try S3BlobStore.hashFile(path, offset: 0, length: nil)
            try expecting?.check(digest: digest, size: size, key: key)
            if createOnly, try self.headObject(key) != nil { return .alreadyExisted }
            if size > self.configuration.multipartThreshold {
                return try self.multipartUpload(key, path: path, size: size, createOnly: createOnly)
            }
            return try self.putObject(key, body: .file(path: path, offset: 0, length: size), payloadHash: digest.hex, createOnly: createOnly)
        }
    }

    public func get(_ key: BlobKey, range: Range<Int>?) async throws -> [UInt8] {
        try await BlockingIO.run {
            var headers: [(String, String)] = []
            if let range {
                guard range.lowerBound >= 0 else { throw RRStoreError.invalidRange(range, size: 0, key: key) }
                if range.isEmpty { return [] }
                headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)"))
            }
            let response = try self.send("GET", key: key, headers: headers)
            switch response.status {
            case 200, 206: return response.body
            case 404: throw RRStoreError.notFound(key)
            case 416: throw RRStoreError(.invalidRange, "range \(range.map { "\($0)" } ?? "") starts past the end of \(key)")
            default: throw self.failure(response, "GET", key)
            }
        }
    }

    public func download(_ key: BlobKey, to path: String) async throws -> BlobInfo {
        try await BlockingIO.run {
            let temporary = "\(path).part-\(UInt64.random(in: 0...UInt64.max))"
            defer { FileSystem.remove(temporary) }
            let response = try self.send("GET", key: key, downloadTo: temporary)
            switch response.status {
            case 200:
                var info = stat()
                guard stat(temporary, &info) == 0 else { throw POSIXFailure.error("stat", path: temporary) }
                if let length = response.header("content-length").flatMap(Int.init), length != Int(info.st_size) {
                    throw RRStoreError(.storageUnavailable, "download of \(key) stopped at \(info.st_size) of \(length) bytes")
                }
                try FileSystem.rename(temporary, to: path)
                return BlobInfo(key: key, size: Int(info.st_size), etag: response.header("etag"))
            case 404: throw RRStoreError.notFound(key)
            default: throw self.failure(response, "GET", key)
            }
        }
    }

    public func head(_ key: BlobKey) async throws -> BlobInfo? {
        try await BlockingIO.run { try self.headObject(key) }
    }

    public func delete(_ key: BlobKey) async throws {
        try await BlockingIO.run {
            let response = try self.send("DELETE", key: key)
            guard (200..<300).contains(response.status) || response.status == 404 else { throw self.failure(response, "DELETE", key) }
        }
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> BlobPage {
        try await BlockingIO.run {
            let fullPrefix = self.configuration.prefix + prefix
            var query = [("list-type", "2"), ("prefix", fullPrefix), ("max-keys", String(max(1, min(limit, 1000))))]
            if let after { query.append(("start-after", self.configuration.prefix + after)) }
            let response = try self.send("GET", key: nil, query: query)
            guard response.status == 200 else { throw self.failure(response, "LIST", nil) }
            let xml = XMLScanner(response.body)
            var blobs: [BlobInfo] = []
            var last: String?
            for item in xml.elements("Contents") {
                guard let name = item.first("Key"), name.hasPrefix(self.configuration.prefix) else { continue }
                let relative = String(name.dropFirst(self.configuration.prefix.count))
                last = relative
                // The named stages' keys lie below the default stage's prefix: not its blobs.
                if BlobKey.isStageNamespace(relative) { continue }
                blobs.append(BlobInfo(key: try BlobKey(relative), size: item.first("Size").flatMap(Int.init) ?? 0, etag: item.first("ETag"),
                                      lastModified: item.first("LastModified").flatMap(CivilTime.millisecondsSince1970(iso8601:))))
            }
            let truncated = xml.first("IsTruncated") == "true"
            return BlobPage(blobs: blobs, next: truncated ? last : nil)
        }
    }

    /// The names one level below `prefix` (within this store's prefix) that hold keys: S3's
    /// `CommonPrefixes` with `/` as delimiter, every page of them.
    public func childNames(of prefix: String) async throws -> [String] {
        try await BlockingIO.run {
            let fullPrefix = self.configuration.prefix + prefix
            var names: [String] = [], token: String?
            repeat {
                var query = [("delimiter", "/"), ("list-type", "2"), ("prefix", fullPrefix)]
                if let token { query.append(("continuation-token", token)) }
                let response = try self.send("GET", key: nil, query: query)
                guard response.status == 200 else { throw self.failure(response, "LIST", nil) }
                let xml = XMLScanner(response.body)
                for common in xml.elements("CommonPrefixes") {
                    guard let name = common.first("Prefix"), name.hasPrefix(fullPrefix), name.hasSuffix("/") else { continue }
                    names.append(String(name.dropFirst(fullPrefix.count).dropLast()))
                }
                token = xml.first("IsTruncated") == "true" ? xml.first("NextContinuationToken") : nil
            } while token != nil
            return names
        }
    }

    /// Creates the bucket unless it exists (for local S3-compatible servers and tests).
    public func createBucketIfMissing() async throws {
        try await BlockingIO.run {
            var body: [UInt8] = []
            if self.configuration.region != "us-east-1" {
                body = Array("<CreateBucketConfiguration><LocationConstraint>\(self.configuration.region)</LocationConstraint></CreateBucketConfiguration>".utf8)
            }
            let response = try self.send("PUT", key: nil, headers: [("Content-Type", "application/xml")], body: .bytes(body),
                                         payloadHash: SHA256Digest.hash(body).hex)
            let code = XMLScanner(response.body).first("Code")
            guard (200..<300).contains(response.status) || code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" else {
                throw self.failure(response, "CreateBucket", nil)
            }
        }
    }

    // MARK: Requests

    private func putObject(_ key: BlobKey, body: CurlRequest.Body, payloadHash: String, createOnly: Bool) throws -> PutOutcome {
        var headers = [("Content-Type", "application/octet-stream")]
        if createOnly { headers.append(("If-None-Match", "*")) }
        let response = try send("PUT", key: key, headers: headers, body: body, payloadHash: payloadHash)
        switch response.status {
        case 200..<300: return .created
        case 412 where createOnly: return .alreadyExisted
        default: throw failure(response, "PUT", key)
        }
    }

    private func headObject(_ key: BlobKey) throws -> BlobInfo? {
        let response = try send("HEAD", key: key)
        switch response.status {
        case 200: return BlobInfo(key: key, size: response.header("content-length").flatMap(Int.init) ?? 0, etag: response.header("etag"))
        case 404: return nil
        default: throw failure(response, "HEAD", key)
        }
    }

    private func multipartUpload(_ key: BlobKey, path: String, size: Int, createOnly: Bool) throws -> PutOutcome {
        let created = try send("POST", key: key, query: [("uploads", "")], headers: [("Content-Type", "application/octet-stream")],
                               body: .bytes([]), payloadHash: SigV4Signer.emptyPayloadHash)
        guard created.status == 200, let uploadID = XMLScanner(created.body).first("UploadId") else {
            throw failure(created, "CreateMultipartUpload", key)
        }
        do {
            var parts: [(Int, String)] = []
            var offset = 0
            var number = 1
            while offset < size {
                let length = min(configuration.partSize, size - offset)
                let (digest, _) = try S3BlobStore.hashFile(path, offset: offset, length: length)
                let response = try send("PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                        headers: [("Content-Type", "application/octet-stream")],
                                        body: .file(path: path, offset: offset, length: length), payloadHash: digest.hex)
                guard response.status == 200, let etag = response.header("etag") else { throw failure(response, "UploadPart \(number)", key) }
                parts.append((number, etag))
                offset += length
                number += 1
            }
            let manifest = "<CompleteMultipartUpload>" + parts.map {
                "<Part><PartNumber>\($0.0)</PartNumber><ETag>\(XMLScanner.escape($0.1))</ETag></Part>"
            }.joined() + "</CompleteMultipartUpload>"
            let body = Array(manifest.utf8)
            var headers = [("Content-Type", "application/xml")]
            if createOnly { headers.append(("If-None-Match", "*")) }
            let completed = try send("POST", key: key, query: [("uploadId", uploadID)], headers: headers,
                                     body: .bytes(body), payloadHash: SHA256Digest.hash(body).hex)
            // S3 may answer 200 with an error document when completion fails late.
            if completed.status == 412 && createOnly {
                abort(key, uploadID)
                return .alreadyExisted
            }
            guard completed.status == 200, XMLScanner(completed.body).first("Code") == nil else {
                throw failure(completed, "CompleteMultipartUpload", key)
            }
            return .created
        } catch {
            abort(key, uploadID)
            throw error
        }
    }

    private func abort(_ key: BlobKey, _ uploadID: String) {
        _ = try? send("DELETE", key: key, query: [("uploadId", uploadID)])
    }

    /// Signs and sends a request, retrying what is worth retrying.
    private func send(_ method: String, key: BlobKey?, query: [(String, String)] = [], headers: [(String, String)] = [],
                      body: CurlRequest.Body = .none, payloadHash: String = SigV4Signer.emptyPayloadHash,
                      downloadTo: String? = nil) throws -> CurlResponse {
        var path = configuration.pathStyle ? "/\(SigV4Signer.encode(configuration.bucket))" : ""
        if let key { path += "/" + SigV4Signer.encode(configuration.prefix + key.rawValue, keepSlash: true) }
        if path.isEmpty { path = "/" }
        let queryString = query.map { SigV4Signer.encode($0.0) + "=" + SigV4Signer.encode($0.1) }.sorted().joined(separator: "&")
        let url = "\(scheme)://\(host)\(path)" + (queryString.isEmpty ? "" : "?\(queryString)")
        var attempt = 1
        while true {
            let signed = signer.sign(SigV4Signer.Request(method: method, path: path, query: query, headers: [("host", host)] + headers,
                                                         payloadHash: payloadHash), date: AMZDate.now())
            let request = CurlRequest(method: method, url: url, headers: headers + signed, body: body, downloadTo: downloadTo)
            let outcome: Result<CurlResponse, Error>
            do { outcome = .success(try transport.perform(request)) } catch { outcome = .failure(error) }
            let retry: Bool
            switch outcome {
            case .success(let response): retry = S3BlobStore.isRetryable(response)
            case .failure(let error): retry = error is CurlFailure
            }
            if !retry || !retryPolicy.mayRetry(after: attempt) {
                switch outcome {
                case .success(let response): return response
                case .failure(let error as CurlFailure):
                    throw RRStoreError(.storageUnavailable, "S3 \(method) \(key.map { "\($0)" } ?? configuration.bucket) failed after \(attempt) attempt(s): \(error); is \(configuration.endpoint) reachable?")
                case .failure(let error): throw error
                }
            }
            // On this blocking thread (the transfer itself blocks it too).
            usleep(UInt32(retryPolicy.delay(after: attempt) * 1_000_000))
            attempt += 1
        }
    }

    private var retryPolicy: RetryPolicy {
        RetryPolicy(attempts: configuration.maxAttempts, baseDelaySeconds: configuration.baseDelaySeconds, maxDelaySeconds: configuration.maxDelaySeconds)
    }

    static func isRetryable(_ response: CurlResponse) -> Bool {
        if response.status >= 500 || response.status == 429 { return true }
        if response.status == 400 || response.status == 409 {
            let code = XMLScanner(response.body).first("Code")
            return code == "RequestTimeout" || code == "SlowDown" || code == "ConditionalRequestConflict"
        }
        return false
    }

    private func failure(_ response: CurlResponse, _ operation: String, _ key: BlobKey?) -> RRStoreError {
        let xml = XMLScanner(response.body)
        let code = xml.first("Code") ?? "HTTP \(response.status)"
        let message = xml.first("Message") ?? ""
        let what = "S3 \(operation) \(key.map { "\($0)" } ?? configuration.bucket) answered \(response.status) \(code)" + (message.isEmpty ? "" : ": \(message)")
        switch response.status {
        case 403: return RRStoreError(.storageRejected, "\(what); check the credentials and the bucket policy")
        case 404 where code == "NoSuchBucket": return RRStoreError(.storageRejected, "\(what); create the bucket or fix --s3-bucket")
        case 500...: return RRStoreError(.storageUnavailable, "\(what) (after \(configuration.maxAttempts) attempts)")
        default: return RRStoreError(.storageRejected, what)
        }
    }

    static func hashFile(_ path: String, offset: Int, length: Int?) throws -> (SHA256Digest, Int) {
        try FileDescriptor.with(path, flags: O_RDONLY) { fd in
            let total = try length ?? (fd.size(path: path) - offset)
            var hasher = SHA256Hasher()
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            var done = 0
            while done < total {
                let wanted = min(chunk.count, total - done)
                let n = chunk.withUnsafeMutableBytes { pread(fd.raw, $0.baseAddress!, wanted, off_t(offset + done)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw RRStoreError(.io, "\(path) ended early while hashing it") }
                chunk.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                done += n
            }
            return (hasher.finalize(), total)
        }
    }
}

extension RRStoreError.Code {
    public static let invalidConfiguration = RRStoreError.Code("invalid_configuration")
}

/// Just enough XML for S3's answers: the text of named elements (no attributes, no
/// namespaces needed). Written by hand because FoundationXML would pull libxml2 and
/// Foundation into the storage layer for four element names.
struct XMLScanner {
    let text: String

    init(_ bytes: [UInt8]) { text = String(decoding: bytes, as: UTF8.self) }
    init(text: String) { self.text = text }

    /// The inner XML of every `<name>...</name>`.
    func elements(_ name: String) -> [XMLScanner] {
        var out: [XMLScanner] = []
        var rest = text[...]
        let open = "<\(name)>", close = "</\(name)>"
        while let start = rest.firstRange(of: open), let end = rest[start.upperBound...].firstRange(of: close) {
            out.append(XMLScanner(text: String(rest[start.upperBound..<end.lowerBound])))
            rest = rest[end.upperBound...]
        }
        return out
    }

    /// The unescaped text of the first `<name>`.
    func first(_ name: String) -> String? {
        elements(name).first.map { XMLScanner.unescape($0.text) }
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("&") else { return s }
        var out = ""
        var rest = s[...]
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                if entity.hasPrefix("#x"), let v = UInt32(entity.dropFirst(2), radix: 16), let u = Unicode.Scalar(v) { out.unicodeScalars.append(u) }
                else if entity.hasPrefix("#"), let v = UInt32(entity.dropFirst()), let u = Unicode.Scalar(v) { out.unicodeScalars.append(u) }
                else { out += "&\(entity);" }
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }

    /// Escapes text content (quotes may stay: ETags carry them, and some servers compare
    /// them without unescaping).
    static func escape(_ s: String) -> String {
        s.replacingAll("&", "&amp;").replacingAll("<", "&lt;").replacingAll(">", "&gt;")
    }
}

extension String {
    func replacingAll(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
