import Foundation
import RRStoreClient
import RRStoreCore
import Testing
@testable import RRStoreServer
import RRStoreHTTP
import RRStoreTestSupport

/// The viewer's pages and its replay frame's listener, over HTTP (what they look like in a
/// browser is Tests/browser/test_viewer.py): two origins, each serving only its own files
/// under a strict policy, the pages open without a token while the data is not.
@Suite struct ViewerTests {
    /// The frame's port, once its listener is up.
    static func framePort(_ server: RunningServer) async throws -> Int {
        for _ in 0..<200 {
            if let port = server.state.viewerPorts.frame { return port }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw RRStoreError(.io, "the replay frame's listener did not start")
    }

    @Test func pagesAndTheReplayFrameAreTwoOriginsWithStrictPolicies() async throws {
        let stores = try await SharedStores(.embedded)
        let tokens = stores.directory + "/tokens"
        try Data("acme acme-token-0123456789\n".utf8).write(to: URL(fileURLWithPath: tokens))
        try await withServer(stores, configure: { $0.auth.mode = .token; $0.auth.tokensFile = tokens }) { server in
            let client = server.client
            let apiPort = server.state.viewerPorts.api ?? 0
            let framePort = try await Self.framePort(server)
            #expect(framePort != apiPort && framePort > 0)
            let frameOrigin = "http://127.0.0.1:\(framePort)", apiOrigin = "http://127.0.0.1:\(apiPort)"

            let root = try await client.send("GET", "/")
            #expect(root.status == 302 && root.header("location") == "/viewer/")
            // The pages need no token; what they fetch does.
            #expect(try await client.send("GET", "/recordings").status == 401)
            let list = try await client.send("GET", "/viewer/")
            #expect(list.status == 200 && list.header("content-type")?.hasPrefix("text/html") == true)
            let listPolicy = list.header("content-security-policy") ?? ""
            for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "frame-src 'none'"] {
                #expect(listPolicy.contains(directive), "\(directive) in \(listPolicy)")
            }
            #expect(list.header("x-content-type-options") == "nosniff" && list.header("x-frame-options") == "DENY")
            #expect(list.header("referrer-policy") == "no-referrer")
            let listHTML = String(decoding: list.body, as: UTF8.self)
            #expect(!listHTML.contains("<script>") && !listHTML.contains("{{"), "no inline script, nothing left unfilled")
            #expect(listHTML.contains(#"<body data-page="list">"#) && listHTML.contains(#"<table id="recordings""#))

            // The player names the frame's origin, and may frame nothing else.
            let player = try await client.send("GET", "/viewer/recordings/anything")
            #expect(player.status == 200)
            #expect(player.header("content-security-policy")?.contains("frame-src \(frameOrigin);") == true)
            let html = String(decoding: player.body, as: UTF8.self)
            #expect(html.contains(#"data-src="\#(frameOrigin)/viewer/frame.html""#) && !html.contains("{{"))
            #expect(html.contains(#"sandbox="allow-scripts allow-same-origin""#))
            #expect(try await client.send("GET", "/viewer/viewer.js").status == 200)
            #expect(try await client.send("GET", "/favicon.ico").status == 302)
            // The frame's files are not served on the API's origin, nor anything else.
            for path in ["/viewer/frame.html", "/viewer/frame.js", "/viewer/rrweb-player.js", "/viewer/LICENSE-rrweb-player", "/viewer/..%2Fopenapi.yaml",
                         "/viewer/shell.html", "/viewer/list", "/viewer/player"] {
                #expect(try await client.send("GET", path).status == 404, "\(path)")
            }

            // The frame's origin: only the frame, no connections, embeddable by the viewer only,
            // images and fonts from the API's asset links only.
            let frameClient = RRStoreClient(baseURL: frameOrigin, retry: .init(attempts: 1))
            let frame = try await frameClient.send("GET", "/viewer/frame.html")
            #expect(frame.status == 200)
            let framePolicy = frame.header("content-security-policy") ?? ""
            for directive in ["script-src 'self'", "connect-src 'none'", "frame-ancestors \(apiOrigin);", "img-src \(apiOrigin)/assets/ ",
                              "font-src \(apiOrigin)/assets/ ", "form-action 'none'"] {
                #expect(framePolicy.contains(directive), "\(directive) in \(framePolicy)")
            }
            #expect(frame.header("x-frame-options") == nil, "the viewer frames it")
            #expect(try await frameClient.send("GET", "/viewer/rrweb-player.js").status == 200)
            for path in ["/viewer/list", "/viewer/shell.html", "/viewer/player.html", "/viewer/viewer.js", "/recordings", "/assets/sha256:00", "/"] {
                #expect(try await frameClient.send("GET", path).status == 404, "\(path) on the frame's origin")
            }
        }
    }

    @Test func aHostileHostIsNotWrittenIntoThePage() async throws {
        try await withServer(.embedded) { server, _ in
            _ = try await Self.framePort(server)
            for host in [#"evil.example"><script>alert(1)</script>"#, "a b", "x;frame-src *"] {
                let answer = try await RawHTTP.exchange(server.url, "GET /viewer/recordings/r HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer.prefix(200))")
                #expect(!answer.contains("<script>alert"))
            }
            // A proxied name is used as it came (the frame's port on the same host).
            let proxied = try await RawHTTP.exchange(server.url, "GET /viewer/recordings/r HTTP/1.1\r\nHost: rrstore.example:8080\r\nConnection: close\r\n\r\n")
            #expect(proxied.contains("http://rrstore.example:\(server.state.viewerPorts.frame ?? 0)/viewer/frame.html"))
        }
    }

    @Test func aConfiguredFrameURLAndTheViewerSwitchedOff() async throws {
        try await withServer(try await SharedStores(.embedded), configure: { $0.viewer.frameURL = "https://replay.example/" }) { server in
            let player = try await server.client.send("GET", "/viewer/recordings/r")
            #expect(String(decoding: player.body, as: UTF8.self).contains(#"data-src="https://replay.example/viewer/frame.html""#))
            #expect(player.header("content-security-policy")?.contains("frame-src https://replay.example;") == true)
        }
        try await withServer(try await SharedStores(.embedded), configure: { $0.viewer.enabled = false }) { server in
            #expect(try await server.client.send("GET", "/viewer/").status == 404)
            #expect(try await server.client.send("GET", "/").status == 404)
            try await Task.sleep(for: .milliseconds(200))
            #expect(server.state.viewerPorts.frame == nil, "no second listener")
        }
    }

    /// A replay on the frame's origin loads images with `crossorigin` and fonts through CORS.
    @Test func assetsAreReadableFromAnotherOrigin() async throws {
        try await withServer(.embedded) { _, client in
            let bytes = Array(repeating: UInt8(ascii: "a"), count: 5000)
            let digest = SHA256Digest.hash(bytes)
            _ = try await client.putAsset(digest, bytes: bytes, mediaType: "font/woff2")
            let read = try await client.send("GET", "/assets/\(digest)", headers: [("Origin", "http://127.0.0.1:1")])
            #expect(read.status == 200 && read.header("access-control-allow-origin") == "*")
            #expect(read.header("access-control-allow-credentials") == nil)
        }
    }

    /// Each list row's first page, start and duration: kept as events are appended (schema 8).
    @Test(arguments: TestStores.available)
    func theListNamesEachRecordingsFirstPageAndDuration(stores kind: TestStores) async throws {
        try await withServer(kind) { server, client in
            func recording(_ path: String) async throws -> [String: Any] {
                let answer = try await client.send("GET", path)
                #expect(answer.status == 200)
                let json = try JSONSerialization.jsonObject(with: Data(answer.body))
                return (json as? [String: Any]) ?? ((json as? [[String: Any]])?.first ?? [:])
            }
            _ = try await client.createRecording(id: "r")
            let empty = try await recording("/recordings/r")
            #expect(empty["first_url"] is NSNull && empty["duration_ms"] is NSNull && empty["started_at"] is NSNull)
            _ = try await client.appendRawEvents("r", body: bytes("""
                [{"type":4,"data":{"href":"https://a.example/","width":800,"height":600},"timestamp":1700000000000},
                 {"type":3,"data":{"source":1},"timestamp":1700000001500}]
                """))
            _ = try await client.appendRawEvents("r", body: bytes(#"[{"type":4,"data":{"href":"https://b.example/"},"timestamp":1700000003000}]"#))
            for path in ["/recordings/r", "/recordings?limit=1"] {
                let row = try await recording(path)
                #expect(row["first_url"] as? String == "https://a.example/", "\(path)")
                #expect(row["duration_ms"] as? Int == 3000, "\(path)")
                #expect(row["started_at"] as? String == "2023-11-14T22:13:20.000Z", "\(path)")
            }
            // Bytes as received, and as kept (the image is an asset now, a reference here).
            _ = try await client.createRecording(id: "big")
            let image = "data:image/png;base64," + Base64.encode(Array(repeating: 9, count: 30_000))
            _ = try await client.appendRawEvents("big", body: bytes(#"[{"type":2,"data":{"node":{"src":"\#(image)"}},"timestamp":5}]"#))
            let big = try await recording("/recordings/big")
            let received = try #require(big["received_bytes"] as? Int), kept = try #require(big["byte_count"] as? Int)
            #expect(received > image.utf8.count && kept < 1000, "received \(received), kept \(kept)")
            let usage = try JSONSerialization.jsonObject(with: Data(try await client.send("GET", "/usage").body)) as? [String: Any]
            #expect((usage?["raw_bytes"] as? Int ?? 0) >= received, "/usage counts bytes as received")
            // Times a recorder made up: the row says unknown, the server stays up.
            _ = try await client.createRecording(id: "odd")
            _ = try await client.appendRawEvents("odd", body: bytes(#"[{"type":3,"data":{},"timestamp":-9223372036854775808},{"type":3,"data":{},"timestamp":9223372036854775807}]"#))
            let odd = try await recording("/recordings/odd")
            #expect(odd["duration_ms"] is NSNull && odd["started_at"] is NSNull && odd["first_url"] is NSNull)
            #expect(try await client.send("GET", "/healthz").status == 200)
        }
    }
}
