import Foundation
import RRStoreClient
import RRStoreCore
import RRStoreStorage
import Testing
@testable import RRStoreServer
import RRStoreHTTP
import RRStoreTestSupport

/// The HTTP contract, endpoint by endpoint, against a live server on loopback.
@Suite struct APITests {
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(repeating: 7, count: 40)

    @Test(arguments: TestStores.available)
    func recordingsAreCreatedListedNewestFirstAndPaginated(stores kind: TestStores) async throws {
        try await withServer(kind) { server, client in
            let generated = try await client.createRecording()
            #expect(generated.id.count == 26)
            let put = try await client.send("PUT", "/recordings/mine-1", headers: [("Content-Type", "application/json")], body: .bytes(bytes("{}")))
            #expect(put.status == 201)
            #expect(put.header("location") == "/recordings/mine-1")
            let again = try await client.send("PUT", "/recordings/mine-1")
            #expect(again.status == 200, "PUT is idempotent")
            var ids = [generated.id, "mine-1"]
            for i in 2..<7 {
                ids.append(try await client.createRecording(id: "mine-\(i)").id)
                try await Task.sleep(for: .milliseconds(3))  // distinct creation times
            }
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await client.listRecordings(limit: 3, cursor: cursor)
                #expect(page.recordings.count <= 3)
                seen += page.recordings.map(\.id)
                cursor = page.next
                pages += 1
            } while cursor != nil && pages < 10
            #expect(pages == 3)
            #expect(Set(seen) == Set(ids) && seen.count == ids.count, "every recording once")
            #expect(Array(seen.prefix(5)) == ["mine-6", "mine-5", "mine-4", "mine-3", "mine-2"], "newest first")
            let last = try await client.send("GET", "/recordings?limit=1000")
            #expect(last.header("link") == nil)
            #expect(try await client.send("GET", "/recordings?limit=0").status == 400)
            #expect(try await client.send("GET", "/recordings?cursor=zzz").status == 400)
            #expect(try await client.send("GET", "/recordings/nope").status == 404)
            let bad = try await client.send("PUT", "/recordings/has%20space")
            #expect(bad.status == 400 && errorCode(bad) == "invalid_id")
            let mismatch = try await client.send("PUT", "/recordings/a1", headers: [("Content-Type", "application/json")], body: .bytes(bytes(#"{"id":"b2"}"#)))
            #expect(mismatch.status == 400)
        }
    }

    @Test(arguments: TestStores.available)
    func screenshotsAreBlobsWithTheirType(stores kind: TestStores) async throws {
        let stores = try await SharedStores(kind)
        try await withServer(stores) { server in
            let client = server.client
            let dataURL = "data:image/png;base64," + Base64.encode(Self.png)
            let created = try await client.createRecording(id: "shot", screenshot: dataURL)
            #expect(created.screenshot == "/recordings/shot/screenshot")
            let shot = try await client.send("GET", "/recordings/shot/screenshot")
            #expect(shot.status == 200 && shot.body == Self.png && shot.header("content-type") == "image/png")
            #expect(try await server.state.assets.bytes(SHA256Digest.hash(Self.png), likely: .identity) == Self.png, "stored content-addressed")

            _ = try await client.createRecording(id: "later")
            #expect(try await client.send("GET", "/recordings/later/screenshot").status == 404)
            let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0] + Array(repeating: 1, count: 20)
            #expect(try await client.send("PUT", "/recordings/later/screenshot", headers: [("Content-Type", "image/jpeg")], body: .bytes(jpeg)).status == 204)
            let back = try await client.send("GET", "/recordings/later/screenshot")
            #expect(back.body == jpeg && back.header("content-type") == "image/jpeg")
            #expect(try await client.send("PUT", "/recordings/ghost/screenshot", headers: [("Content-Type", "image/jpeg")], body: .bytes(jpeg)).status == 404)
            let notImage = try await client.send("PUT", "/recordings/later/screenshot", headers: [("Content-Type", "image/png")], body: .bytes(bytes("hello")))
            #expect(notImage.status == 400 && errorCode(notImage) == "invalid_screenshot")
            let badBase64 = try await client.send("POST", "/recordings", headers: [("Content-Type", "application/json")],
                                                  body: .bytes(bytes(#"{"screenshot":"data:image/png;base64,@@@"}"#)))
            #expect(badBase64.status == 400)
        }
    }

    @Test(arguments: TestStores.available)
    func everyBodyShapeIsAcceptedAndARetriedBatchCountsOnce(stores kind: TestStores) async throws {
        try await withServer(kind) { server, client in
            _ = try await client.createRecording(id: "shapes")
            let e1 = #"{"type":4,"data":{"href":"https://example.com/","width":1280,"height":720},"timestamp":1}"#
            let e2 = #"{"type":3, "data": {"source":2,"type":1,"id":5}, "timestamp":2.50}"#
            let e3 = #"{"type":5,"data":{"tag":"x"},"timestamp":3}"#
            let e4 = #"{"type":3,"data":{"source":0},"timestamp":4}"#
            let r1 = try await client.appendRawEvents("shapes", body: bytes("[\(e1) ,\n \(e2)]"), idempotencyKey: "b-1")
            #expect(r1 == AppendResult(firstSequence: 0, count: 2, duplicate: false))
            let retried = try await client.appendRawEvents("shapes", body: bytes("[\(e1),\(e2)]"), idempotencyKey: "b-1")
            #expect(retried == AppendResult(firstSequence: 0, count: 2, duplicate: true))
            _ = try await client.appendRawEvents("shapes", body: bytes(#"{"events":[\#(e3)]}"#))
            _ = try await client.appendRawEvents("shapes", body: try GzipEncoder.compress(bytes("\(e4)\n\(e1)\n")), format: .ndjson, gzipped: true)
            let legacy = #"{"sessionId":"shapes","rrwebEvent":\#(e2),"sequence":7}"#
            _ = try await client.appendRawEvents("shapes", body: bytes(legacy))
            let wrongSession = try await client.send("POST", "/recordings/shapes/events", headers: [("Content-Type", "application/json")],
                                                     body: .bytes(bytes(#"{"sessionId":"other","rrwebEvent":\#(e2)}"#)))
            #expect(wrongSession.status == 400)
            #expect(try await client.readEvents("shapes") == bytes([e1, e2, e3, e4, e1, e2].joined(separator: "\n") + "\n"))
            #expect(try await client.recording("shapes")?.eventCount == 6)
        }
    }

    @Test(arguments: TestStores.available)
    func badInputIsRejectedClearlyAndStoresNothing(stores kind: TestStores) async throws {
        try await withServer(kind, configure: { $0.limits.maxBodyBytes = 1 << 20; $0.limits.maxEventsPerBatch = 50; $0.createOnAppend = false }) { server, client in
            _ = try await client.createRecording(id: "strict")
            let good = #"{"type":4,"data":{},"timestamp":1}"#
            func post(_ body: [UInt8], _ headers: [(String, String)] = [("Content-Type", "application/json")]) async throws -> CurlResponse {
                try await client.send("POST", "/recordings/strict/events", headers: headers, body: .bytes(body))
            }
            let cases: [(String, [UInt8], [(String, String)], Int, String)] = [
                ("malformed JSON after a good event", bytes("[\(good), {\"type\": }]"), [("Content-Type", "application/json")], 400, "invalid_json"),
                ("truncated array", bytes("[\(good), \(good)"), [("Content-Type", "application/json")], 400, "truncated_input"),
                ("not gzip", bytes("\u{1F}\u{8B}garbage"), [("Content-Type", "application/json"), ("Content-Encoding", "gzip")], 400, "invalid_gzip"),
                ("an array of numbers", bytes("[1,2]"), [("Content-Type", "application/json")], 400, "invalid_event"),
                ("empty body", [], [("Content-Type", "application/json")], 400, "invalid_event"),
                ("XML", bytes("<a/>"), [("Content-Type", "application/xml")], 415, "unsupported_media_type"),
                ("brotli", bytes("[]"), [("Content-Type", "application/json"), ("Content-Encoding", "br")], 415, "unsupported_media_type"),
                ("too deep", bytes("[{\"type\":1,\"d\":" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}]"),
                 [("Content-Type", "application/json")], 400, "nesting_too_deep"),
                ("too many events", bytes("[" + Array(repeating: good, count: 51).joined(separator: ",") + "]"), [("Content-Type", "application/json")], 413, "too_large"),
                ("too large a body", bytes("[{\"type\":1,\"s\":\"" + String(repeating: "x", count: 2 << 20) + "\"}]"), [("Content-Type", "application/json")], 413, "too_large"),
                ("bad idempotency key", bytes("[\(good)]"), [("Content-Type", "application/json"), ("Idempotency-Key", "no spaces allowed")], 400, "invalid_idempotency_key"),
            ]
            for (name, body, headers, status, code) in cases {
                let response = try await post(body, headers)
                #expect(response.status == status, "\(name): \(String(decoding: response.body, as: UTF8.self))")
                #expect(errorCode(response) == code, "\(name)")
                #expect(response.header("content-type") == "application/json", "\(name)")
            }
            #expect(try await client.recording("strict")?.eventCount == 0, "nothing was stored half-way")
            #expect(try await client.readEvents("strict").isEmpty)
            let missing = try await client.send("POST", "/recordings/absent/events", headers: [("Content-Type", "application/json")], body: .bytes(bytes("[\(good)]")))
            #expect(missing.status == 404 && errorCode(missing) == "not_found", "with --create-on-append false")
            #expect(try await client.send("GET", "/recordings/strict/events?assets=base64").status == 400)
            #expect(try await client.send("GET", "/no/such/route").status == 404)
        }
    }

    @Test(arguments: TestStores.available)
    func assetsHaveSetUploadsAndRanges(stores kind: TestStores) async throws {
        let stores = try await SharedStores(kind)
        try await withServer(stores) { server in
            let client = server.client
            let body = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let digest = SHA256Digest.hash(body)
            let other = SHA256Digest.hash(bytes("never uploaded"))
            #expect(try await client.missingAssets([(digest, body.count), (other, 14), (digest, body.count)]) == [digest, other])
            #expect(try await client.send("GET", "/assets/\(digest)").status == 404)
            #expect(try await client.send("HEAD", "/assets/\(digest)").status == 404)

            let wrong = try await client.send("PUT", "/assets/\(digest)", body: .bytes(Array(body.dropLast())))
            #expect(wrong.status == 422 && errorCode(wrong) == "digest_mismatch")
            #expect(try await stores.blobs.head(.asset(digest)) == nil, "a wrong upload stores nothing")
            #expect(try await stores.blobs.head(.asset(digest, .gzip)) == nil, "not compressed either")
            #expect(try await client.putAsset(digest, bytes: body, mediaType: "image/webp") == true)
            #expect(try await client.putAsset(digest, bytes: body) == false, "idempotent")
            #expect(try await client.missingAssets([(digest, body.count), (other, 14)]) == [other])

            let full = try await client.send("GET", "/assets/\(digest)")
            #expect(full.status == 200 && full.body == body)
            #expect(full.header("etag") == "\"\(digest)\"")
            #expect(full.header("cache-control") == "public, max-age=31536000, immutable")
            #expect(full.header("content-type") == "image/webp")
            let part = try await client.send("GET", "/assets/\(digest)", headers: [("Range", "bytes=10-19")])
            #expect(part.status == 206 && part.body == Array(body[10..<20]) && part.header("content-range") == "bytes 10-19/100000")
            let tail = try await client.send("GET", "/assets/\(digest)", headers: [("Range", "bytes=-5")])
            #expect(tail.body == Array(body.suffix(5)))
            #expect(try await client.send("GET", "/assets/\(digest)", headers: [("Range", "bytes=100000-")]).status == 416)
            #expect(try await client.send("GET", "/assets/\(digest)", headers: [("If-None-Match", "\"\(digest)\"")]).status == 304)
            let head = try await client.send("HEAD", "/assets/\(digest)")
            #expect(head.status == 200 && head.body.isEmpty && head.header("content-length") == "100000")
            #expect(try await client.send("GET", "/assets/sha256:XYZ").status == 400)
            let tooMany = "{\"assets\":[" + Array(repeating: "{\"digest\":\"\(digest)\",\"size\":1}", count: 1001).joined(separator: ",") + "]}"
            #expect(try await client.send("POST", "/assets/missing", headers: [("Content-Type", "application/json")], body: .bytes(bytes(tooMany))).status == 413)

            // A large upload is spooled to disk and streamed back in pieces.
            let large = (0..<(9 << 20)).map { UInt8(truncatingIfNeeded: $0 >> 7) }
            let largeDigest = SHA256Digest.hash(large)
            #expect(try await client.putAsset(largeDigest, bytes: large) == true)
            #expect(try await client.getAsset(largeDigest) == large)
        }
    }

    @Test(arguments: TestStores.available)
    func compressibleAssetsAreStoredAsGzipAndServedEitherWay(stores kind: TestStores) async throws {
        let stores = try await SharedStores(kind)
        try await withServer(stores) { server in
            let client = server.client
            // 3 MiB of tree-like JSON: stored as gzip, served whole, as gzip, or in ranges.
            var text: [UInt8] = []
            var i = 0
            while text.count < 3 << 20 {
                text += bytes(#"{"id":\#(i),"tagName":"div","attributes":{"class":"row-\#(i % 97)"},"childNodes":[]},"#)
                i += 1
            }
            let digest = SHA256Digest.hash(text)
            #expect(try await client.putAsset(digest, bytes: text, mediaType: "application/json") == true)
            #expect(try await stores.blobs.head(.asset(digest)) == nil)
            let stored = try #require(try await stores.blobs.head(.asset(digest, .gzip)))
            #expect(stored.size < text.count / 4, "stored compressed: \(stored.size) of \(text.count) bytes")

            let plain = try await client.send("GET", "/assets/\(digest)")
            #expect(plain.status == 200 && plain.header("content-encoding") == nil && plain.body == text)
            let gzip = try await client.send("GET", "/assets/\(digest)", headers: [("Accept-Encoding", "br, gzip")])
            #expect(gzip.status == 200 && gzip.header("content-encoding") == "gzip" && gzip.header("vary") == "Accept-Encoding")
            #expect(gzip.body.count == stored.size && gzip.header("etag") == "\"\(digest)+gzip\"")
            #expect(try GzipDecoder.decompress(gzip.body) == text)
            #expect(try await client.send("GET", "/assets/\(digest)", headers: [("If-None-Match", "\"\(digest)+gzip\"")]).status == 304)
            let refused = try await client.send("GET", "/assets/\(digest)", headers: [("Accept-Encoding", "gzip;q=0")])
            #expect(refused.header("content-encoding") == nil && refused.body == text)
            for (start, end) in [(0, 0), (1_000_000, 1_000_099), (text.count - 10, text.count - 1)] {
                let part = try await client.send("GET", "/assets/\(digest)", headers: [("Range", "bytes=\(start)-\(end)"), ("Accept-Encoding", "gzip")])
                #expect(part.status == 206 && part.header("content-encoding") == nil && part.body == Array(text[start...end]), "bytes \(start)-\(end)")
            }

            // Bytes that do not compress (random, or a PNG) stay as they are.
            var generator = SystemRandomNumberGenerator()
            let noise = (0..<(2 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let noiseDigest = SHA256Digest.hash(noise)
            #expect(try await client.putAsset(noiseDigest, bytes: noise) == true)
            #expect(try await stores.blobs.head(.asset(noiseDigest))?.size == noise.count)
            #expect(try await stores.blobs.head(.asset(noiseDigest, .gzip)) == nil)
            let noisy = try await client.send("GET", "/assets/\(noiseDigest)", headers: [("Accept-Encoding", "gzip")])
            #expect(noisy.header("content-encoding") == nil && noisy.body == noise)
        }
    }

    @Test(arguments: TestStores.available)
    func clientRewrittenEventsKeepTheirReferences(stores kind: TestStores) async throws {
        try await withServer(kind) { server, client in
            _ = try await client.createRecording(id: "pre")
            let image = "data:image/png;base64," + Base64.encode(Self.png + Array(repeating: 9, count: 3000))
            let raw = bytes(#"{"type":2,"data":{"node":{"attributes":{"rr_dataURL":"\#(image)"}}},"timestamp":1}"#)
            var rewriter = Rewriter()
            var assets: [(SHA256Digest, [UInt8])] = []
            let rewritten = try rewriter.rewrite(raw) { assets.append(($0.digest, Array($0.bytes))) }
            #expect(assets.count == 1)
            let refused = try await client.send("POST", "/recordings/pre/events", headers: [("Content-Type", "application/json"), ("RRStore-Rewritten", "1")],
                                                body: .bytes(rewritten))
            #expect(refused.status == 422 && errorCode(refused) == "unknown_assets", "a reference to an asset not uploaded is refused")
            for (digest, bytes) in assets { try await client.putAsset(digest, bytes: bytes) }
            _ = try await client.appendRawEvents("pre", body: rewritten, rewritten: true)
            // Without the header the same text is data: its look-alike reference is kept as text.
            _ = try await client.appendRawEvents("pre", body: rewritten)
            #expect(try await client.readEvents("pre") == raw + bytes("\n") + rewritten + bytes("\n"))
        }
    }

    @Test(arguments: TestStores.available)
    func deletingARecordingRemovesItsChunks(stores kind: TestStores) async throws {
        let stores = try await SharedStores(kind)
        try await withServer(stores) { server in
            let client = server.client
            _ = try await client.createRecording(id: "gone")
            _ = try await client.appendRawEvents("gone", body: bytes(#"[{"type":4,"data":{},"timestamp":1}]"#))
            await Flusher(state: server.state).flushDue(final: true)
            let tenant = server.state.configuration.localTenant
            let chunks = try await stores.blobs.listAll(prefix: "rrweb/recordings/userId=\(tenant)/sessionId=gone/")
            #expect(chunks.count == 1)
            #expect(try await client.deleteRecording("gone"))
            #expect(try await stores.blobs.listAll(prefix: "rrweb/recordings/userId=\(tenant)/sessionId=gone/").isEmpty)
            #expect(try await client.recording("gone") == nil)
            #expect(try await client.send("GET", "/recordings/gone/events").status == 404)
            #expect(try await client.deleteRecording("gone") == false)
        }
    }

    @Test func gracefulShutdownFlushesPendingEvents() async throws {
        let stores = try await SharedStores(.embedded)
        let tenant = "shutdown"
        try await withServer(stores, tenant: tenant) { server in
            _ = try await server.client.createRecording(id: "late")
            _ = try await server.client.appendRawEvents("late", body: bytes(#"[{"type":4,"data":{},"timestamp":1}]"#))
        }
        #expect(try await stores.metadata.pendingEvents(tenant: tenant, recording: "late", limit: 10).isEmpty)
        #expect(try await stores.metadata.chunks(tenant: tenant, recording: "late").map(\.eventCount) == [1])
    }

    @Test func flusherHonoursSizeAndIdleThresholds() async throws {
        let stores = try await SharedStores(.embedded)
        try await withServer(stores, configure: { $0.flush.chunkBytes = 1000; $0.flush.idleSeconds = 3600; $0.flush.maxAgeSeconds = 3600; $0.flush.intervalSeconds = 3600 }) { server in
            let client = server.client
            let tenant = server.state.configuration.localTenant
            _ = try await client.createRecording(id: "small")
            _ = try await client.createRecording(id: "big")
            _ = try await client.appendRawEvents("small", body: bytes(#"[{"type":4,"data":{},"timestamp":1}]"#))
            let event = #"{"type":3,"data":{"text":"\#(String(repeating: "a", count: 300))"},"timestamp":2}"#
            _ = try await client.appendRawEvents("big", body: bytes("[" + Array(repeating: event, count: 8).joined(separator: ",") + "]"))
            await Flusher(state: server.state).flushDue(final: false)
            #expect(try await stores.metadata.chunks(tenant: tenant, recording: "small").isEmpty, "under every threshold: stays pending")
            let big = try await stores.metadata.chunks(tenant: tenant, recording: "big")
            #expect(big.count >= 2 && big.reduce(0) { $0 + $1.eventCount } == 8, "split into chunks of about 1000 bytes")
            #expect(try await client.readEvents("big") == bytes(Array(repeating: event, count: 8).joined(separator: "\n") + "\n"))
        }
        try await withServer(stores, configure: { $0.flush.idleSeconds = 0.1 }) { server in
            let tenant = server.state.configuration.localTenant
            _ = try await server.client.createRecording(id: "idle")
            _ = try await server.client.appendRawEvents("idle", body: bytes(#"[{"type":4,"data":{},"timestamp":1}]"#))
            var flushed = false
            for _ in 0..<50 where !flushed {
                try await Task.sleep(for: .milliseconds(100))
                flushed = try await !stores.metadata.chunks(tenant: tenant, recording: "idle").isEmpty
            }
            #expect(flushed, "the running flusher packs an idle recording")
        }
    }

    @Test func corsAnswersListedOriginsOnly() async throws {
        let stores = try await SharedStores(.embedded)
        try await withServer(stores, configure: { $0.corsOrigins = ["https://app.example"] }) { server in
            let client = server.client
            let preflight = try await client.send("OPTIONS", "/recordings/x/events", headers: [
                ("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type, idempotency-key")])
            #expect(preflight.status == 204)
            #expect(preflight.header("access-control-allow-origin") == "https://app.example")
            #expect(preflight.header("access-control-allow-credentials") == "true")
            #expect(preflight.header("access-control-allow-headers")?.contains("Idempotency-Key") == true)
            let stranger = try await client.send("OPTIONS", "/recordings/x/events", headers: [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")])
            #expect(stranger.header("access-control-allow-origin") == nil)
            let error = try await client.send("GET", "/recordings/none", headers: [("Origin", "https://app.example")])
            #expect(error.status == 404 && error.header("access-control-allow-origin") == "https://app.example", "errors carry CORS headers too")
            // An asset fetched first without an Origin, then with one: both answers say they
            // vary by Origin, so a cached copy never serves a CORS load it does not fit.
            _ = try await client.createRecording(id: "c")
            let image = Self.png + Array(repeating: 5, count: 3000)
            _ = try await client.appendRawEvents("c", body: bytes(#"[{"type":2,"data":{"a":"data:image/png;base64,\#(Base64.encode(image))"},"timestamp":1}]"#))
            let path = "/assets/\(SHA256Digest.hash(image))"
            let plain = try await client.send("GET", path)
            #expect(plain.status == 200 && plain.header("vary")?.contains("Origin") == true)
            let cors = try await client.send("GET", path, headers: [("Origin", "https://app.example")])
            #expect(cors.header("vary")?.contains("Origin") == true && cors.header("access-control-allow-origin") == "https://app.example")
            // Another origin may read an asset it can fetch (a replay on the viewer's frame
            // origin does), without credentials; the API's own answers stay refused to it.
            let other = try await client.send("GET", path, headers: [("Origin", "https://evil.example")])
            #expect(other.header("vary")?.contains("Origin") == true && other.header("access-control-allow-origin") == "*")
            #expect(other.header("access-control-allow-credentials") == nil)
            let api = try await client.send("GET", "/recordings/c", headers: [("Origin", "https://evil.example")])
            #expect(api.status == 200 && api.header("access-control-allow-origin") == nil)
        }
        try await withServer(stores, configure: { $0.corsOrigins = ["*"] }) { server in
            let any = try await server.client.send("GET", "/healthz", headers: [("Origin", "https://anywhere.example")])
            #expect(any.header("access-control-allow-origin") == "*")
            #expect(any.header("access-control-allow-credentials") == nil, "no credentials with a wildcard")
            // With `*`, every answer carries it, asked with an Origin or not (a cached copy
            // then serves a later CORS load of the same asset).
            let plain = try await server.client.send("GET", "/healthz")
            #expect(plain.header("access-control-allow-origin") == "*")
        }
    }

    @Test func healthAndMetrics() async throws {
        let stores = try await SharedStores(.embedded)
        try await withServer(stores) { server in
            let client = server.client
            #expect(String(decoding: try await client.send("GET", "/healthz").body, as: UTF8.self) == "{\"status\":\"ok\"}\n")
            _ = try await client.createRecording(id: "m")
            let image = "data:image/png;base64," + Base64.encode(Self.png + Array(repeating: 3, count: 2000))
            _ = try await client.appendRawEvents("m", body: bytes(#"[{"type":2,"data":{"a":"\#(image)"},"timestamp":1},{"type":2,"data":{"a":"\#(image)"},"timestamp":2}]"#))
            await Flusher(state: server.state).flushDue(final: true)
            let metrics = String(decoding: try await client.send("GET", "/metrics").body, as: UTF8.self)
            for line in ["rrstore_ingest_events_total 2", "rrstore_assets_new_total 1", "rrstore_flushes_total 1",
                         #"rrstore_http_requests_total{method="POST",route="/recordings/{id}/events",status="202"} 1"#] {
                #expect(metrics.contains(line), "missing '\(line)'")
            }
            #expect(metrics.contains("rrstore_bytes_saved_total") && metrics.contains("rrstore_http_request_duration_seconds_bucket"))
        }
    }
}
