import Foundation
import RRStoreClient
import RRStoreCore
import RRStoreHTTP
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
}
