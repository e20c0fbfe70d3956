import ArgumentParser
import Foundation
import RRStoreClient
import RRStoreCore

struct SmokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smoke",
        abstract: "Check a live deployment end to end, as a client would.",
        discussion: """
        Against the server at --server, as the tenant of --token: health, a new recording, raw \
        events (rewritten by the server), client-rewritten events (have-set, uploads), reading \
        back byte for byte and with asset URLs (absolute), the asset itself, the listing, the \
        original system's client and viewer (envelopes, screenshot, format=original), and \
        deleting the recording again (unless --keep). One line a step; exits 1 at the first failure.
        """
    )

    @Option(help: "The rrstore server, e.g. https://rrstore.example.com (env RRSTORE_SERVER).")
    var server: String?

    @Option(help: "A bearer token (env RRSTORE_TOKEN).")
    var token: String?

    @Flag(help: "Leave the smoke recording in place.")
    var keep = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let server = server ?? environment["RRSTORE_SERVER"] else { throw ValidationError("--server (or RRSTORE_SERVER) is required") }
        let client = RRStoreClient(baseURL: server, token: token ?? environment["RRSTORE_TOKEN"], retry: .init(attempts: 2))
        let started = ContinuousClock.now
        var step = 0
        func check(_ name: String, _ body: () async throws -> String) async throws {
            step += 1
            let clock = ContinuousClock.now
            do {
                let detail = try await body()
                print("ok   \(step). \(name): \(detail) (\(milliseconds(since: clock)) ms)")
            } catch {
                print("FAIL \(step). \(name): \(error)")
                throw ExitCode.failure
            }
        }
        let id = "smoke-\(UUID().uuidString.lowercased().prefix(12))"
        let (raw, image) = Self.sampleEvents(salt: id)
        let imageDigest = SHA256Digest.hash(image)

        try await check("health") {
            let response = try await client.send("GET", "/healthz")
            guard response.status == 200 else { throw SmokeFailure("GET /healthz answered \(response.status)") }
            return "200"
        }
        try await check("create recording") { "\(try await client.createRecording(id: id).id)" }
        try await check("post raw events") {
            let result = try await client.appendRawEvents(id, body: raw, idempotencyKey: "smoke-raw")
            return "\(result.count) events accepted"
        }
        try await check("post client-rewritten events") {
            let stats = try await client.appendEvents(id, events: raw, idempotencyKey: "smoke-client")
            return "\(stats.assetsReferenced) references, \(stats.assetsUploaded) assets uploaded"
        }
        try await check("read back byte for byte") {
            let back = try await client.readEvents(id)
            let expected = try Self.ndjson(raw)
            guard back == expected + expected else {
                throw SmokeFailure("the events read back (\(back.count) bytes) differ from those posted twice (\(expected.count * 2) bytes)")
            }
            return "\(back.count) bytes equal"
        }
        try await check("read with asset URLs, fetch the image") {
            let linked = String(decoding: try await client.readEvents(id, assets: .url), as: UTF8.self)
            guard linked.contains("/assets/\(imageDigest)") else { throw SmokeFailure("no /assets/\(imageDigest) link in the URL-mode read") }
            guard linked.contains("\"http://") || linked.contains("\"https://") else {
                throw SmokeFailure("the URL-mode links are not absolute: a player on another page could not load them (set --public-url)")
            }
            guard let bytes = try await client.getAsset(imageDigest), bytes == image else { throw SmokeFailure("GET /assets/\(imageDigest) did not give the image") }
            return "\(bytes.count)-byte image"
        }
        try await check("have-set") {
            let missing = try await client.missingAssets([(imageDigest, image.count)])
            guard missing.isEmpty else { throw SmokeFailure("the server reports the uploaded image missing") }
            return "nothing missing"
        }
        try await check("listing") {
            let page = try await client.listRecordings(limit: 1000)
            guard page.recordings.contains(where: { $0.id == id }) else { throw SmokeFailure("\(id) is not in the listing") }
            return "\(page.recordings.count) recording(s) listed"
        }
        try await originalClientSteps(client, check: check)
        if !keep {
            try await check("delete") {
                guard try await client.deleteRecording(id), try await client.recording(id) == nil else {
                    throw SmokeFailure("\(id) is still there after DELETE")
                }
                return "gone"
            }
        }
        print("smoke passed: \(step) steps in \(milliseconds(since: started)) ms against \(server)")
    }

    /// What the replaced system's browser client and viewer do (README, "Migrating from the
    /// original system"): its id form, envelopes before the PUT, a retried envelope, its
    /// screenshot, and its viewer's reads (`format=original`); the recording is deleted after.
    func originalClientSteps(_ client: RRStoreClient, check: (String, () async throws -> String) async throws -> Void) async throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let id = "\(formatter.string(from: Date()))-\(UUID().uuidString.lowercased())"
        let events = (0..<3).map { #"{"type":3,"data":{"source":1,"positions":[{"x":\#($0),"y":1,"id":1,"timeOffset":0}]},"timestamp":\#(1_700_000_000_000 + $0)}"# }
        let json = [("Content-Type", "application/json")]
        try await check("original client: envelopes before the recording, one retried") {
            for sequence in [0, 1, 1, 2] {
                let body = #"{"sessionId":"\#(id)","rrwebEvent":\#(events[sequence]),"sequence":\#(sequence)}"#
                let response = try await client.send("POST", "/recordings/\(id)/events", headers: json, body: .bytes(Array(body.utf8)))
                guard response.status == 202 else { throw SmokeFailure("POST of envelope \(sequence) answered \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))") }
            }
            let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0] + Array(repeating: 7, count: 64)
            let put = try await client.send("PUT", "/recordings/\(id)", headers: json,
                                            body: .bytes(Array(#"{"sessionId":"\#(id)","screenshot":"data:image/jpeg;base64,\#(Base64.encode(jpeg))"}"#.utf8)))
            guard put.status == 200 else { throw SmokeFailure("the screenshot's PUT answered \(put.status), not 200 (an existing recording)") }
            return id
        }
        try await check("original viewer: events and listing in its form") {
            let read = try await client.send("GET", "/recordings/\(id)/events?format=original")
            let lines = String(decoding: read.body, as: UTF8.self).split(separator: "\n")
            let expected = events.enumerated().map { #"{"sessionId":"\#(id)","rrwebEvent":\#($0.element),"sequence":\#($0.offset)}"# }
            guard read.status == 200, lines.map(String.init) == expected else {
                throw SmokeFailure("the original form read gave \(lines.count) lines, not the 3 envelopes in order, each once")
            }
            let listing = String(decoding: try await client.send("GET", "/recordings/?format=original").body, as: UTF8.self)
            guard listing.contains(#"{"S":"\#(id)"}"#), listing.contains("data:image/jpeg;base64,") else {
                throw SmokeFailure("the original listing lacks \(id) or its screenshot")
            }
            guard try await client.deleteRecording(id) else { throw SmokeFailure("could not delete \(id)") }
            return "3 events, listed with its screenshot"
        }
    }

    /// A small session with what rrstore cuts out: a data-URI image, a long stylesheet and a
    /// large repeated subtree; `salt` makes its assets new to the server.
    static func sampleEvents(salt: String) -> (json: [UInt8], image: [UInt8]) {
        var image: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(salt.utf8)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 { image.append(UInt8.random(in: 0...255, using: &generator)) }
        let css = String(repeating: ".smoke-\(salt) { color: #123456; margin: 0 auto; } ", count: 60)
        let rows = (0..<80).map { #"{"type":2,"tagName":"li","attributes":{"class":"row"},"childNodes":[{"type":3,"textContent":"row \#($0)"}],"id":\#(100 + $0)}"# }
        let list = #"{"type":2,"tagName":"ul","attributes":{},"childNodes":[\#(rows.joined(separator: ","))],"id":99}"#
        let snapshot = #"{"type":2,"data":{"node":{"type":0,"childNodes":[{"type":2,"tagName":"style","attributes":{"_cssText":"\#(css)"},"childNodes":[],"id":2},{"type":2,"tagName":"img","attributes":{"src":"data:image/png;base64,\#(Base64.encode(image))"},"childNodes":[],"id":3},\#(list)],"id":1},"initialOffset":{"left":0,"top":0}},"timestamp":1700000000000}"#
        let events = [#"{"type":4,"data":{"href":"https://smoke.example/","width":1280,"height":720},"timestamp":1699999999999}"#, snapshot,
                      #"{"type":3,"data":{"source":2,"type":2,"id":3,"x":10,"y":20},"timestamp":1700000000500}"#]
        return (Array("[\(events.joined(separator: ","))]".utf8), image)
    }

    static func ndjson(_ json: [UInt8]) throws -> [UInt8] {
        try EventStream.events(in: json).flatMap { $0 + [0x0A] }
    }
}

struct SmokeFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func milliseconds(since start: ContinuousClock.Instant) -> Int {
    let elapsed = ContinuousClock.now - start
    return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
}
