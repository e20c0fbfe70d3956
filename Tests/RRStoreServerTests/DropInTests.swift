import Foundation
import RRStoreClient
import RRStoreCore
import RRStoreHTTP
@testable import RRStoreServer
import Testing
import RRStoreTestSupport

/// What the original system's clients send (issue 14), on both store pairs: its ids, and
/// its order of calls (events first, the `PUT` with a screenshot later).
@Suite struct DropInTests {
    /// `${new Date().toISOString()}-${uuid}`, as the original client names recordings.
    static let originalID = "2026-12-01T19:21:32.939Z-3c44a4d5-9f6e-4b1a-8c2d-0e5f7a9b1c3d"

    @Test(arguments: TestStores.available)
    func theOriginalClientsIdsAndOrderOfCallsWork(stores kind: TestStores) async throws {
        try await withServer(kind, configure: { $0.flush.chunkBytes = 1; $0.flush.idleSeconds = 0.2 }) { server, client in
            let id = Self.originalID
            let meta = #"{"type":4,"data":{"href":"https://example.com/","width":1280,"height":720},"timestamp":1}"#
            let snapshot = #"{"type":2,"data":{"node":{"type":0,"childNodes":[],"id":1},"initialOffset":{"left":0,"top":0}},"timestamp":2}"#
            // Events before the recording exists: they create it.
            for (sequence, event) in [meta, snapshot].enumerated() {
                let envelope = #"{"sessionId":"\#(id)","rrwebEvent":\#(event),"sequence":\#(sequence)}"#
                let posted = try await client.send("POST", "/recordings/\(id)/events", headers: [("Content-Type", "application/json")], body: .bytes(bytes(envelope)))
                #expect(posted.status == 202, "\(String(decoding: posted.body, as: UTF8.self))")
            }
            // Then the PUT with the screenshot: an existing recording (200), screenshot filled in.
            let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0] + Array(repeating: 1, count: 200)
            let put = try await client.send("PUT", "/recordings/\(id)", headers: [("Content-Type", "application/json")],
                                            body: .bytes(bytes(#"{"sessionId":"\#(id)","screenshot":"data:image/jpeg;base64,\#(Base64.encode(jpeg))"}"#)))
            #expect(put.status == 200)
            let shot = try await client.send("GET", "/recordings/\(id)/screenshot")
            #expect(shot.status == 200 && shot.body == jpeg)
            // A second PUT keeps the first screenshot.
            let again = try await client.send("PUT", "/recordings/\(id)", headers: [("Content-Type", "application/json")],
                                              body: .bytes(bytes(#"{"screenshot":"data:image/jpeg;base64,\#(Base64.encode(jpeg + [9]))"}"#)))
            #expect(again.status == 200)
            #expect(try await client.send("GET", "/recordings/\(id)/screenshot").body == jpeg)

            // The id works encoded too, and survives a flush to the blob store (its key holds the `:`).
            let encoded = id.replacingOccurrences(of: ":", with: "%3A")
            #expect(try await client.send("GET", "/recordings/\(encoded)").status == 200)
            var flushed = false
            for _ in 0..<100 where !flushed {
                try await Task.sleep(for: .milliseconds(100))
                flushed = try await server.state.metadata.chunks(tenant: server.state.configuration.localTenant, recording: id).count > 0
            }
            #expect(flushed, "the events were flushed to a chunk")
            #expect(try await client.readEvents(id) == bytes(meta + "\n" + snapshot + "\n"))
            let listed = try await client.listRecordings().recordings
            #expect(listed.map(\.id) == [id])
            // Its cursor pages on.
            let page = try await client.send("GET", "/recordings?limit=1")
            #expect(page.status == 200)

            // Ids that could escape a path, or are not ids, stay refused.
            for bad in ["a%2Fb", "..%2Fx", "a%00b", "has%20space", "a%5Cb", "%C3%BC", String(repeating: "a", count: 129)] {
                let response = try await client.send("PUT", "/recordings/\(bad)")
                #expect(response.status == 400 && errorCode(response) == "invalid_id", "\(bad)")
            }
        }
    }

    /// The original viewer's reads: events as `{"sessionId", "rrwebEvent", "sequence"}` lines
    /// (it takes `.rrwebEvent` of each) and the listing as DynamoDB's `Items`; asked for by
    /// `?format=original`, or by default with `--api-compat original`.
    @Test(arguments: TestStores.available)
    func theOriginalViewersReadsAreAnsweredInItsForm(stores kind: TestStores) async throws {
        try await withServer(kind, configure: { $0.apiCompat = .original }) { server, client in
            let id = Self.originalID
            let events = (0..<5).map { #"{"type":3,"data":{"source":1,"positions":[{"x":\#($0),"y":2}]},"timestamp":\#(10 + $0)}"# }
            _ = try await client.appendRawEvents(id, body: bytes("[" + events.joined(separator: ",") + "]"))
            let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0] + Array(repeating: 3, count: 100)
            _ = try await client.send("PUT", "/recordings/\(id)", headers: [("Content-Type", "application/json")],
                                      body: .bytes(bytes(#"{"screenshot":"data:image/jpeg;base64,\#(Base64.encode(jpeg))"}"#)))
            for path in ["/recordings/\(id)/events", "/recordings/\(id)/events?format=original"] {
                let answer = try await client.send("GET", path)
                #expect(answer.status == 200)
                let lines = String(decoding: answer.body, as: UTF8.self).split(separator: "\n")
                #expect(lines.count == events.count, "\(path)")
                for (index, line) in lines.enumerated() {
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                    #expect(object["sessionId"] as? String == id)
                    #expect(object["sequence"] as? Int == index)
                    let event = try #require(object["rrwebEvent"] as? [String: Any])
                    #expect(event["timestamp"] as? Int == 10 + index, "\(path): .rrwebEvent is the event")
                }
            }
            let own = try await client.send("GET", "/recordings/\(id)/events?format=rrstore")
            #expect(own.body == bytes(events.joined(separator: "\n") + "\n"), "rrstore's own form, asked for")
            #expect(try await client.send("GET", "/recordings/\(id)/events?format=x").status == 400)

            let listing = try await client.send("GET", "/recordings")
            let scan = try #require(try JSONSerialization.jsonObject(with: Data(listing.body)) as? [String: Any])
            let items = try #require(scan["Items"] as? [[String: [String: String]]])
            #expect(items.count == 1)
            #expect(items.first?["sessionId"]?["S"] == id)
            #expect(items.first?["createdAt"]?["N"].flatMap { Int64($0) }.map { $0 > 1_700_000_000_000 } == true)
            #expect(items.first?["screenshot"]?["S"] == "data:image/jpeg;base64,\(Base64.encode(jpeg))")
            let plain = try await client.send("GET", "/recordings?format=rrstore")
            #expect((try JSONSerialization.jsonObject(with: Data(plain.body)) as? [[String: Any]])?.first?["id"] as? String == id)
        }
    }

    /// The original client posts each event on its own, numbered by `sequence`, without
    /// waiting: they are stored in its order even when they arrive out of it, a retried
    /// envelope is stored once, and a lost one holds the rest up only for the wait.
    @Test(arguments: TestStores.available)
    func envelopesAreStoredInTheClientsOrderAndRetriesCountOnce(stores kind: TestStores) async throws {
        let id = Self.originalID
        let event = { @Sendable (n: Int) in #"{"type":3,"data":{"source":1,"positions":[{"x":\#(n),"y":2}]},"timestamp":\#(100 + n)}"# }
        let post = { @Sendable (client: RRStoreClient, n: Int) async throws -> CurlResponse in
            try await client.send("POST", "/recordings/\(id)/events", headers: [("Content-Type", "application/json")],
                                  body: .bytes(bytes(#"{"sessionId":"\#(id)","rrwebEvent":\#(event(n)),"sequence":\#(n)}"#)))
        }
        // A wait far longer than any post takes, even on a loaded machine: an envelope that
        // comes back before it went because its predecessor was stored, not by its deadline.
        try await withServer(kind, configure: { $0.envelopeOrderWaitSeconds = 60 }) { _, client in
            #expect(try await post(client, 0).status == 202)
            // 2 arrives before 1 and waits for it; 1 then goes, and 2 after it.
            let started = ContinuousClock.now
            async let two = post(client, 2)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await post(client, 1).status == 202)
            #expect(try await two.status == 202)
            #expect(ContinuousClock.now - started < .seconds(30), "2 went once 1 was stored, not at its deadline")
            // A retry of 1 is stored once; the same sequence with other events is refused.
            let retry = try await post(client, 1)
            #expect(retry.status == 202 && String(decoding: retry.body, as: UTF8.self).contains(#""duplicate":true"#))
            let other = try await client.send("POST", "/recordings/\(id)/events", headers: [("Content-Type", "application/json")],
                                              body: .bytes(bytes(#"{"sessionId":"\#(id)","rrwebEvent":\#(event(9)),"sequence":1}"#)))
            #expect(other.status == 422 && errorCode(other) == "idempotency_conflict")
            #expect(try await client.readEvents(id) == bytes([0, 1, 2].map(event).joined(separator: "\n") + "\n"), "the client's order")
            // A sequence that is not a non-negative integer is refused, naming the field.
            for bad in ["-1", "1.5", "\"3\"", "null", "1234567890123456"] {
                let response = try await client.send("POST", "/recordings/\(id)/events", headers: [("Content-Type", "application/json")],
                                                     body: .bytes(bytes(#"{"rrwebEvent":\#(event(5)),"sequence":\#(bad)}"#)))
                #expect(response.status == 400 && String(decoding: response.body, as: UTF8.self).contains("sequence"), "\(bad)")
            }
        }
        // 1 is lost for good: 2 waits for it until its deadline, then is stored.
        try await withServer(kind, configure: { $0.envelopeOrderWaitSeconds = 0.5 }) { (_: RunningServer, client: RRStoreClient) async throws -> Void in
            #expect(try await post(client, 0).status == 202)
            let waited = ContinuousClock.now
            #expect(try await post(client, 2).status == 202)
            #expect(ContinuousClock.now - waited >= .milliseconds(450), "it waited for 1")
            #expect(try await client.readEvents(id) == bytes([0, 2].map(event).joined(separator: "\n") + "\n"))
        }
    }

    /// `assets=url` links are absolute, so a player on any page loads them: from
    /// `--public-url`, else the request's `Host`, or with `--trust-proxy` the proxy's
    /// `X-Forwarded-Host`/`-Proto` (ignored without it).
    @Test func urlModeLinksAreAbsolute() async throws {
        let image = Base64.encode([0x89, 0x50, 0x4E, 0x47] + (0..<6000).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        let event = #"{"type":2,"data":{"node":{"type":2,"tagName":"img","attributes":{"rr_dataURL":"data:image/png;base64,\#(image)"},"childNodes":[],"id":1}},"timestamp":1}"#
        func links(_ configure: (inout ServerConfiguration) -> Void, headers: [(String, String)] = []) async throws -> (String, [String]) {
            try await withServer(.embedded, configure: configure) { server, client in
                _ = try await client.appendRawEvents("r", body: bytes("[" + event + "]"))
                let answer = try await client.send("GET", "/recordings/r/events?assets=url", headers: headers)
                let text = String(decoding: answer.body, as: UTF8.self)
                let found = text.split(separator: "\"").filter { $0.contains("/assets/sha256:") }.map(String.init)
                return (server.url, answer.status == 200 && !found.isEmpty ? found : ["status \(answer.status)", text])
            }
        }
        let (url, plain) = try await links({ _ in })
        #expect(plain.count == 1 && plain.allSatisfy { $0.hasPrefix(url + "/assets/sha256:") }, "\(plain) \(url)")
        let (ownURL, untrusted) = try await links({ _ in }, headers: [("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "https")])
        #expect(untrusted.count == 1 && untrusted.allSatisfy { $0.hasPrefix(ownURL + "/assets/") }, "forwarded headers are ignored unless trusted")
        let (_, proxied) = try await links({ $0.trustForwardedHeaders = true },
                                           headers: [("X-Forwarded-Host", "rr.example.com, inner.proxy"), ("X-Forwarded-Proto", "https")])
        #expect(proxied.count == 1 && proxied.allSatisfy { $0.hasPrefix("https://rr.example.com/assets/sha256:") }, "\(proxied)")
        let (_, configured) = try await links({ $0.publicBaseURL = "https://cdn.example/rr"; $0.trustForwardedHeaders = true },
                                              headers: [("X-Forwarded-Host", "rr.example.com")])
        #expect(configured.count == 1 && configured.allSatisfy { $0.hasPrefix("https://cdn.example/rr/assets/sha256:") })
        for host in ["a\"b", "a/b", "a b:1", "[zz]", "h:99999x", ""] {
            let (_, bad) = try await links({ $0.trustForwardedHeaders = true }, headers: [("X-Forwarded-Host", host + ",x")])
            #expect(bad.first == "status 400" || host.isEmpty, "\(host)")
        }
        #expect(AssetLinkBase.isAuthority("127.0.0.1:8080") && AssetLinkBase.isAuthority("[::1]:80") && AssetLinkBase.isAuthority("rr.example"))
        #expect(!AssetLinkBase.isAuthority("[::1]x") && !AssetLinkBase.isAuthority("a:") && !AssetLinkBase.isAuthority("a@b"))
    }

    /// The original `infra/test.sh`, as plain requests: what it gets, and what differs on
    /// purpose (its `{"screenshot": "asdf"}` is not an image: 400, nothing stored).
    @Test(arguments: TestStores.available)
    func theOriginalTestScriptsFlow(stores kind: TestStores) async throws {
        try await withServer(kind, configure: { $0.corsOrigins = ["*"]; $0.flush.idleSeconds = 0.2 }) { _, client in
            let id = String((0..<32).map { _ in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".randomElement()! })
            let options = try await client.send("OPTIONS", "/recordings/\(id)")
            #expect(options.status == 204)
            #expect(options.header("Access-Control-Allow-Origin") == "*")
            let put = try await client.send("PUT", "/recordings/\(id)", headers: [("Content-Type", "application/json")], body: .bytes(bytes(#"{"screenshot": "asdf"}"#)))
            #expect(put.status == 400 && errorCode(put) == "invalid_screenshot", "\(String(decoding: put.body, as: UTF8.self))")
            #expect(try await client.send("GET", "/recordings/\(id)").status == 404, "the refused PUT stored nothing")
            #expect(try await client.send("GET", "/recordings").status == 200)
            let envelope = #"{"sessionId": "\#(id)", "events": [{"type": "load", "timestamp": 1620000000000, "data": {"url": "https://www.example.com"}}]}"#
            for _ in 0..<3 {
                let posted = try await client.send("POST", "/recordings/\(id)/events", headers: [("Content-Type", "application/json")], body: .bytes(bytes(envelope)))
                #expect(posted.status == 202, "\(String(decoding: posted.body, as: UTF8.self))")
            }
            #expect(try await client.send("GET", "/recordings/\(id)").status == 200, "the events created the recording")
            let events = try await client.send("GET", "/recordings/\(id)/events")
            let text = String(decoding: events.body, as: UTF8.self)
            #expect(events.status == 200 && text.contains("https://www.example.com"))
            #expect(text.split(separator: "\n").count == 3, "three posts without a key or sequence are three events")
        }
    }
}
