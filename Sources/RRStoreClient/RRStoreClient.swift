import Foundation
import RRStoreCore
import RRStoreHTTP

/// Talks to an rrstore service over HTTP (libcurl, connections reused). Every call names
/// what failed in its error; 5xx answers and connection failures are retried with backoff.
public struct RRStoreClient: Sendable {
    public let baseURL: String
    public let token: String?
    public let retry: RetryPolicy
    let transport: CurlTransport

    public init(baseURL: String, token: String? = nil, retry: RetryPolicy = RetryPolicy(), transport: CurlTransport = CurlTransport()) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.token = token
        self.retry = retry
        self.transport = transport
    }

    public typealias RetryPolicy = RRStoreHTTP.RetryPolicy

    // MARK: Raw exchange

    /// One request with retries on connection failures and 5xx (all rrstore calls are
    /// idempotent or carry an idempotency key); answers whatever status came last.
    public func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: CurlRequest.Body = .none) async throws -> CurlResponse {
        var headers = headers
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let request = CurlRequest(method: method, url: baseURL + path, headers: headers, body: body)
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try await transport.send(request)
                if response.status >= 500 && retry.mayRetry(after: attempt) {
                    try await retry.wait(after: attempt)
                    continue
                }
                return response
            } catch let failure as CurlFailure {
                guard retry.mayRetry(after: attempt) else {
                    throw RRStoreError(.storageUnavailable, "\(method) \(baseURL + path) failed after \(attempt) attempts: \(failure)")
                }
                try await retry.wait(after: attempt)
            }
        }
    }

    /// The response if its status is one of `expected`, else the server's error as thrown.
    func expect(_ response: CurlResponse, _ expected: Set<Int>, _ what: String) throws -> CurlResponse {
        guard expected.contains(response.status) else { throw ClientError(response: response, what: what) }
        return response
    }

    // MARK: Recordings

    public func createRecording(id: String? = nil, screenshot: String? = nil) async throws -> Recording {
        var body: [String: String] = [:]
        if let screenshot { body["screenshot"] = screenshot }
        let json = try JSONEncoder().encode(body)
        let response: CurlResponse
        if let id {
            response = try await send("PUT", "/recordings/\(id)", headers: [("Content-Type", "application/json")], body: .bytes(Array(json)))
        } else {
            response = try await send("POST", "/recordings", headers: [("Content-Type", "application/json")], body: .bytes(Array(json)))
        }
        return try decode(Recording.self, try expect(response, [200, 201], "create recording"))
    }

    public func recording(_ id: String) async throws -> Recording? {
        let response = try await send("GET", "/recordings/\(id)")
        if response.status == 404 { return nil }
        return try decode(Recording.self, try expect(response, [200], "get recording \(id)"))
    }

    /// One page, newest first, and the cursor of the next page (nil on the last).
    public func listRecordings(limit: Int = 100, cursor: String? = nil) async throws -> (recordings: [Recording], next: String?) {
        var path = "/recordings?limit=\(limit)"
        if let cursor { path += "&cursor=\(cursor)" }
        let response = try expect(try await send("GET", path), [200], "list recordings")
        let next = response.header("link").flatMap { link -> String? in
            guard let range = link.range(of: "cursor=") else { return nil }
            return String(link[range.upperBound...].prefix { $0 != ">" && $0 != "&" })
        }
        return (try decode([Recording].self, response), next)
    }

    /// Returns false if there was no such recording.
    @discardableResult
    public func deleteRecording(_ id: String) async throws -> Bool {
        let response = try expect(try await send("DELETE", "/recordings/\(id)"), [204, 404], "delete recording \(id)")
        return response.status == 204
    }

    // MARK: Events

    public enum EventsFormat: Sendable { case json, ndjson }

    /// Posts events as they are (the server rewrites them).
    public func appendRawEvents(_ recording: String, body: [UInt8], format: EventsFormat = .json, gzipped: Bool = false,
                                idempotencyKey: String? = nil, rewritten: Bool = false) async throws -> AppendResult {
        var headers = [("Content-Type", format == .json ? "application/json" : "application/x-ndjson")]
        if gzipped { headers.append(("Content-Encoding", "gzip")) }
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
        if rewritten { headers.append(("RRStore-Rewritten", "1")) }
        let response = try await send("POST", "/recordings/\(recording)/events", headers: headers, body: .bytes(body))
        return try decode(AppendResult.self, try expect(response, [202], "append events to \(recording)"))
    }

    public enum AssetsMode: String, Sendable { case inline, url }

    /// The recording's events as NDJSON.
    public func readEvents(_ recording: String, assets: AssetsMode = .inline) async throws -> [UInt8] {
        try expect(try await send("GET", "/recordings/\(recording)/events?assets=\(assets.rawValue)"), [200], "read events of \(recording)").body
    }

    // MARK: Assets

    public func missingAssets(_ assets: [(digest: SHA256Digest, size: Int)]) async throws -> [SHA256Digest] {
        struct Query: Encodable { struct Item: Encodable { var digest: String; var size: Int }; var assets: [Item] }
        struct Answer: Decodable { var missing: [String] }
        let body = try JSONEncoder().encode(Query(assets: assets.map { .init(digest: $0.digest.description, size: $0.size) }))
        let response = try expect(try await send("POST", "/assets/missing", headers: [("Content-Type", "application/json")], body: .bytes(Array(body))),
                                  [200], "ask which assets are missing")
        return try decode(Answer.self, response).missing.map { try SHA256Digest.parse($0) }
    }

    /// Uploads an asset; true if the server stored new bytes, false if it had them.
    @discardableResult
    public func putAsset(_ digest: SHA256Digest, bytes: [UInt8], mediaType: String? = nil) async throws -> Bool {
        let response = try await send("PUT", "/assets/\(digest)", headers: [("Content-Type", mediaType ?? "application/octet-stream")], body: .bytes(bytes))
        return try expect(response, [200, 201], "upload asset \(digest)").status == 201
    }

    /// Uploads many small assets in one request (`POST /assets/batch`, each at most 4 MiB,
    /// at most 1,000). Throws the first asset's refusal, if any (the others were kept);
    /// answers how many of them the tenant did not hold before.
    @discardableResult
    public func putAssets(_ assets: [(digest: SHA256Digest, bytes: [UInt8], mediaType: String?)]) async throws -> Int {
        struct Answer: Decodable {
            struct Item: Decodable { var digest: String; var status: Int; var error: Failure? }
            struct Failure: Decodable { var code: String; var message: String }
            var assets: [Item]
        }
        let response = try await send("POST", "/assets/batch", headers: [("Content-Type", AssetBatch.mediaType)], body: .bytes(AssetBatch.encode(assets)))
        let answer = try decode(Answer.self, try expect(response, [200], "upload a batch of \(assets.count) assets"))
        guard answer.assets.count == assets.count else {
            throw RRStoreError(.invalidJSON, "the server answered for \(answer.assets.count) of a batch of \(assets.count) assets")
        }
        if let refused = answer.assets.first(where: { !(200...201).contains($0.status) }) {
            throw RRStoreError(RRStoreError.Code(refused.error?.code ?? "upload_refused"),
                               "the server refused asset \(refused.digest) of a batch (\(refused.status)): \(refused.error?.message ?? "no reason given")")
        }
        return answer.assets.filter { $0.status == 201 }.count
    }

    public func getAsset(_ digest: SHA256Digest) async throws -> [UInt8]? {
        let response = try await send("GET", "/assets/\(digest)")
        if response.status == 404 { return nil }
        return try expect(response, [200], "download asset \(digest)").body
    }

    // MARK: Decoding

    func decode<T: Decodable>(_ type: T.Type, _ response: CurlResponse) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw RRStoreError(.invalidJSON, "the server's answer is not the expected \(T.self): \(error)")
        }
    }
}

public struct Recording: Codable, Sendable, Equatable {
    public var id: String
    public var createdAt: String
    public var eventCount: Int
    public var byteCount: Int
    public var screenshot: String?
    public var cursor: String?

    enum CodingKeys: String, CodingKey {
        case id, screenshot, cursor
        case createdAt = "created_at"
        case eventCount = "event_count"
        case byteCount = "byte_count"
    }
}

public struct AppendResult: Codable, Sendable, Equatable {
    public var firstSequence: Int
    public var count: Int
    public var duplicate: Bool

    public init(firstSequence: Int, count: Int, duplicate: Bool) {
        self.firstSequence = firstSequence
        self.count = count
        self.duplicate = duplicate
    }

    enum CodingKeys: String, CodingKey {
        case count, duplicate
        case firstSequence = "first_sequence"
    }
}

/// The server answered with an unexpected status; `code` and `message` are its error body's.
public struct ClientError: Error, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var what: String

    init(response: CurlResponse, what: String) {
        struct Body: Decodable { struct Inner: Decodable { var code: String; var message: String }; var error: Inner }
        let parsed = try? JSONDecoder().decode(Body.self, from: Data(response.body))
        status = response.status
        code = parsed?.error.code ?? "http_\(response.status)"
        message = parsed?.error.message ?? String(decoding: response.body.prefix(300), as: UTF8.self)
        self.what = what
    }

    public var description: String { "\(what): HTTP \(status) \(code): \(message)" }
}
