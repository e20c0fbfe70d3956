import Foundation
import RRStoreClient
import RRStoreCore
import RRStoreHTTP
import RRStoreStorage
import Testing
import RRStoreTestSupport
@testable import RRStoreServer

/// `POST /assets/batch` on both store pairs: each asset judged alone and in order, the
/// refused ones stored nowhere, a malformed body refused whole, and a client that uploads
/// its missing assets in batches.
@Suite struct AssetBatchUploadTests {
    @Test(arguments: TestStores.available)
    func eachAssetIsJudgedAloneAndInOrder(stores kind: TestStores) async throws {
        let stores = try await SharedStores(kind)
        try await withServer(stores) { server in
            let client = server.client
            let leaf = bytes("a stylesheet: body { color: red }")
            let tree = bytes(#"{"tagName":"div","childNodes":["rrtree:\#(SHA256Digest.hash(leaf))"]}"#)
            let orphan = bytes(#"{"tagName":"p","childNodes":["rrtree:\#(SHA256Digest.hash(bytes("never sent")))"]}"#)
            let lying = bytes("these bytes are not what the digest says")
            let png = [0x89, 0x50, 0x4E, 0x47, 0x0A, 0x00] + bytes("not really an image")
            var body = AssetBatch.encode([(SHA256Digest.hash(leaf), leaf, "text/css"), (SHA256Digest.hash(tree), tree, nil),
                                          (SHA256Digest.hash(orphan), orphan, nil), (SHA256Digest.hash(png), png, "image/png"),
                                          (SHA256Digest.hash(leaf), leaf, "text/css")])
            body += AssetBatch.encode([(SHA256Digest.hash(bytes("something else")), lying, nil)])
            let answer = try await client.send("POST", "/assets/batch", headers: [("Content-Type", AssetBatch.mediaType)], body: .bytes(body))
            #expect(answer.status == 200)
            struct Answer: Decodable { struct Item: Decodable { var digest: String; var status: Int; var error: Failure? }; struct Failure: Decodable { var code: String }; var assets: [Item] }
            let items = try JSONDecoder().decode(Answer.self, from: Data(answer.body)).assets
            #expect(items.map(\.status) == [201, 201, 422, 201, 201, 422])
            #expect(items.map { $0.error?.code } == [nil, nil, "unknown_assets", nil, nil, "digest_mismatch"])
            // What was accepted reads back; what was refused is nowhere.
            #expect(try await client.getAsset(SHA256Digest.hash(tree)) == tree)
            let image = try await client.send("GET", "/assets/\(SHA256Digest.hash(png))")
            #expect(image.body == png && image.header("content-type") == "image/png")
            #expect(try await client.getAsset(SHA256Digest.hash(orphan)) == nil)
            #expect(try await client.missingAssets([(SHA256Digest.hash(orphan), orphan.count), (SHA256Digest.hash(leaf), leaf.count)])
                    == [SHA256Digest.hash(orphan)])
            #expect(try await server.state.metadata.assetLocation(SHA256Digest.hash(orphan)) == nil, "a refused asset is not staged")
            // Sent again: held now, 200 each.
            #expect(try await client.putAssets([(SHA256Digest.hash(leaf), leaf, nil), (SHA256Digest.hash(tree), tree, nil)]) == 0)

            // A malformed body is refused whole, before anything is kept.
            let fresh = bytes("kept only if the whole body parses")
            let cut = AssetBatch.encode([(SHA256Digest.hash(fresh), fresh, nil)]) + Array("sha256:abc 5 -\nab".utf8)
            let refused = try await client.send("POST", "/assets/batch", headers: [("Content-Type", AssetBatch.mediaType)], body: .bytes(cut))
            #expect(refused.status == 400 && errorCode(refused) == "invalid_batch")
            #expect(try await client.getAsset(SHA256Digest.hash(fresh)) == nil)
            // Over the limits: 413.
            let big = [UInt8](repeating: 1, count: (4 << 20) + 1)
            let tooBig = try await client.send("POST", "/assets/batch", body: .bytes(AssetBatch.encode([(SHA256Digest.hash(big), big, nil)])))
            #expect(tooBig.status == 413 && errorCode(tooBig) == "too_large")
            #expect(try await client.send("POST", "/assets/batch", body: .bytes([])).body == bytes(#"{"assets":[]}"#) + [0x0A], "an empty batch is an empty answer")
        }
    }

    /// Another tenant cannot learn from a batch that the bytes were stored before: the
    /// answer is 201 for bytes new to this tenant, whoever else holds them.
    @Test func theAnswerDoesNotTellWhatOtherTenantsStored() async throws {
        let stores = try await SharedStores(.embedded)
        let shared = bytes(#"{"tagName":"span","text":"stored by alice first"}"#)
        try await withServer(stores, tenant: "alice") { server async throws in
            #expect(try await server.client.putAssets([(SHA256Digest.hash(shared), shared, nil)]) == 1)
        }
        try await withServer(stores, tenant: "bob") { server async throws in
            #expect(try await server.client.putAssets([(SHA256Digest.hash(shared), shared, nil)]) == 1, "new to bob: 201, as if nobody had it")
            #expect(try await server.client.getAsset(SHA256Digest.hash(shared)) == shared)
        }
    }

    /// The client's uploads: every corpus session loaded in batches takes far fewer
    /// requests than one PUT per asset, and reads back byte for byte.
    @Test(arguments: TestStores.available)
    func theClientUploadsInBatchesChildrenFirst(stores kind: TestStores) async throws {
        let sessions = try Corpus.sessions()
        try await withServer(kind) { server, client in
            let present = PresentAssets()
            var batched = UploadStats()
            for (index, url) in sessions.enumerated() {
                let raw = try GzipDecoder.decompress(Array(try Data(contentsOf: url)))
                _ = try await client.createRecording(id: "s\(index)")
                batched += try await client.appendEvents("s\(index)", events: raw, idempotencyKey: "k", present: present)
                #expect(try await client.readEvents("s\(index)") == (try expectedNDJSON(raw)), "session \(index) reads back byte for byte")
            }
            #expect(batched.assetsUploaded > 100)
            #expect(batched.uploadRequests * 5 < batched.assetsUploaded, "\(batched.uploadRequests) requests for \(batched.assetsUploaded) assets")
        }
    }
}
