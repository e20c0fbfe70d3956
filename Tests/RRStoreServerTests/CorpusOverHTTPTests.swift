import Foundation
import RRStoreClient
import RRStoreCore
import RRStoreStorage
import Testing
@testable import RRStoreServer
import RRStoreTestSupport

/// Every corpus session, posted raw over real HTTP, comes back byte for byte — before and
/// after the flusher packed it into chunks — on every store pair.
@Suite struct CorpusOverHTTPTests {
    @Test(arguments: TestStores.available)
    func everySessionRoundTripsByteExact(stores kind: TestStores) async throws {
        try await HeavyTests.withTurn { try await roundTrip(stores: kind) }
    }

    private func roundTrip(stores kind: TestStores) async throws {
        let stores = try await SharedStores(kind)
        let sessions = try Corpus.sessions()
        try await withServer(stores, configure: { $0.flush.idleSeconds = 3600; $0.flush.maxAgeSeconds = 3600; $0.flush.intervalSeconds = 3600 }) { server in
            let client = server.client
            var rawTotal = 0, stored = 0
            for url in sessions {
                let id = Corpus.recordingID(url)
                let gzipped = Array(try Data(contentsOf: url))
                let json = try GzipDecoder.decompress(gzipped)
                let expected = try expectedNDJSON(json)
                _ = try await client.createRecording(id: id)
                // The corpus files are gzip JSON arrays: posted exactly as they are on disk.
                let result = try await client.appendRawEvents(id, body: gzipped, gzipped: true, idempotencyKey: "backfill-1")
                #expect(result.count == expected.filter { $0 == UInt8(ascii: "\n") }.count)
                let pending = try await client.readEvents(id)
                #expect(pending == expected, "\(id): read from pending rows differs from what was posted")
                rawTotal += json.count
                stored += try await client.recording(id)?.byteCount ?? 0
            }
            #expect(stored * 4 < rawTotal, "rewritten events should be a fraction of the raw bytes (\(stored) of \(rawTotal))")

            // Pack everything into chunks, then read again: same bytes, from the blob store.
            let chunks = await Flusher(state: server.state).flushDue(final: true)
            #expect(chunks >= sessions.count)
            #expect(try await server.state.metadata.flushCandidates(minBytes: 0, oldestBefore: .max, newestBefore: .max, limit: 10).isEmpty)
            for url in sessions {
                let id = Corpus.recordingID(url)
                let expected = try expectedNDJSON(try GzipDecoder.decompress(Array(try Data(contentsOf: url))))
                #expect(try await server.state.metadata.pendingEvents(tenant: server.state.configuration.localTenant, recording: id, limit: 1).isEmpty)
                #expect(try await client.readEvents(id) == expected, "\(id): read from chunks differs from what was posted")

                // URL mode: the same events, data-URI assets as links that serve the decoded image.
                let urlMode = try await client.readEvents(id, assets: .url)
                let lines = urlMode.split(separator: UInt8(ascii: "\n"))
                #expect(lines.count == expected.split(separator: UInt8(ascii: "\n")).count)
                for line in lines { try Array(line).withUnsafeBytes { try JSONBytes.validate($0) } }
                let links = assetLinks(in: urlMode)
                #expect(!contains(urlMode, "rrasset:") && !contains(urlMode, "rrtree:"), "\(id): no reference may leak into a read")
                for link in links.sorted().prefix(3) {
                    let response = try await client.send("GET", "/assets/\(link)")
                    #expect(response.status == 200)
                    #expect(SHA256Digest.hash(response.body).description == link)
                    #expect(response.header("content-type")?.hasPrefix("image/") == true || response.header("content-type")?.hasPrefix("font/") == true
                            || response.header("content-type")?.hasPrefix("application/") == true)
                }
            }

            // A second backfill of the same sessions with the same keys appends nothing.
            for url in sessions.prefix(3) {
                let id = Corpus.recordingID(url)
                let before = try await client.recording(id)
                let again = try await client.appendRawEvents(id, body: Array(try Data(contentsOf: url)), gzipped: true, idempotencyKey: "backfill-1")
                #expect(again.duplicate)
                #expect(try await client.recording(id)?.eventCount == before?.eventCount)
            }
        }
    }

    /// With JWT auth on, every session goes in through the client library (local rewrite,
    /// have-set, uploads children first, rewritten events) as one tenant and comes back
    /// byte for byte; a second tenant sees none of it and must upload every asset itself.
    @Test func everySessionRoundTripsWithAuthOn() async throws {
        let jwks = JWKSServer()
        try jwks.publish([("k1", AuthTests.rsa)])
        let stores = try await SharedStores(.embedded)
        let sessions = try Corpus.sessions()
        try await jwks.run { url in
            try await withServer(stores, configure: AuthTests.jwt(url)) { server in
                let alice = RRStoreClient(baseURL: server.url, token: try AuthTests.token("alice"), retry: .init(attempts: 1))
                let present = PresentAssets()
                for url in sessions {
                    let id = Corpus.recordingID(url)
                    let json = try GzipDecoder.decompress(Array(try Data(contentsOf: url)))
                    _ = try await alice.createRecording(id: id)
                    _ = try await alice.appendEvents(id, events: json, idempotencyKey: "one", present: present)
                    #expect(try await alice.readEvents(id) == (try expectedNDJSON(json)), "\(id) round trip with auth on")
                }
                let bob = RRStoreClient(baseURL: server.url, token: try AuthTests.token("bob"), retry: .init(attempts: 1))
                #expect(try await bob.listRecordings().recordings.isEmpty)
                let first = sessions[0]
                let json = try GzipDecoder.decompress(Array(try Data(contentsOf: first)))
                _ = try await bob.createRecording(id: "mine")
                let stats = try await bob.appendEvents("mine", events: json, idempotencyKey: "one")
                #expect(stats.assetsUploaded > 0, "bob proves every asset himself, though alice stored them all")
                #expect(try await bob.readEvents("mine") == (try expectedNDJSON(json)))
            }
        }
    }

    /// Two instances on one pair of stores: what one accepts, the other serves.
    @Test func twoInstancesShareOneS3AndPostgres() async throws {
        let kinds = TestStores.available
        try #require(kinds.contains(.s3Postgres) || !TestStores.isCI, "CI must provide moto and PostgreSQL")
        guard kinds.contains(.s3Postgres) else { return }
        let stores = try await SharedStores(.s3Postgres)
        let tenant = "shared-\(UUID().uuidString.prefix(8))"
        let session = try Corpus.sessions()[0]
        let gzipped = Array(try Data(contentsOf: session))
        let expected = try expectedNDJSON(try GzipDecoder.decompress(gzipped))
        try await withServer(stores, tenant: tenant) { a in
            try await withServer(stores, tenant: tenant) { b in
                _ = try await a.client.createRecording(id: "shared")
                #expect(try await b.client.recording("shared") != nil)
                _ = try await b.client.appendRawEvents("shared", body: gzipped, gzipped: true)
                #expect(try await a.client.readEvents("shared") == expected)
                // A flushes, B reads the chunk; both flush at once: one commit wins, nothing doubles.
                async let fa = Flusher(state: a.state).flushDue(final: true)
                async let fb = Flusher(state: b.state).flushDue(final: true)
                _ = await (fa, fb)
                #expect(try await a.state.metadata.chunks(tenant: tenant, recording: "shared").reduce(0) { $0 + $1.eventCount }
                        == expected.filter { $0 == UInt8(ascii: "\n") }.count)
                #expect(try await b.client.readEvents("shared") == expected)
            }
        }
    }
}

/// The digests of every `/assets/sha256:<hex>` link in `text`.
func assetLinks(in text: [UInt8]) -> Set<String> {
    let marker = Array("/assets/sha256:".utf8)
    var found = Set<String>()
    var i = 0
    while let start = find(marker, in: text, from: i) {
        let hexStart = start + marker.count
        guard hexStart + 64 <= text.count else { break }
        found.insert("sha256:" + String(decoding: text[hexStart..<(hexStart + 64)], as: UTF8.self))
        i = hexStart
    }
    return found
}

func contains(_ text: [UInt8], _ needle: String) -> Bool { find(Array(needle.utf8), in: text, from: 0) != nil }

func find(_ needle: [UInt8], in text: [UInt8], from: Int) -> Int? {
    guard !needle.isEmpty, text.count >= needle.count else { return nil }
    var i = from
    let first = needle[0]
    while i <= text.count - needle.count {
        if text[i] == first && text[i..<(i + needle.count)].elementsEqual(needle) { return i }
        i += 1
    }
    return nil
}
