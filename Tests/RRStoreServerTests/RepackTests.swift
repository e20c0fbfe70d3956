import Foundation
import RRStoreClient
import RRStoreCore
import RRStoreStorage
import Testing
import RRStoreTestSupport
@testable import RRStoreServer

/// `Repacker` on both store pairs: a store whose every asset is one object (as releases
/// before packs wrote it) is repacked beside a running server, stopped after a page and
/// run again; then every corpus session reads back byte for byte and no small asset is
/// left loose.
@Suite struct RepackTests {
    @Test(arguments: TestStores.available)
    func aStoreOfLooseAssetsIsRepackedStoppedAndResumed(stores kind: TestStores) async throws {
        let stores = try await SharedStores(kind)
        let sessions = try Corpus.sessions()
        var expecting: [String: [UInt8]] = [:]
        for url in sessions { expecting[Corpus.recordingID(url)] = try expectedNDJSON(try GzipDecoder.decompress(Array(try Data(contentsOf: url)))) }
        let expected = expecting
        // The old layout: every asset an object of its own.
        try await withServer(stores, tenant: "t", configure: { $0.pack.maxAssetBytes = 0 }) { server in
            for url in sessions {
                let id = Corpus.recordingID(url)
                _ = try await server.client.createRecording(id: id)
                _ = try await server.client.appendRawEvents(id, body: Array(try Data(contentsOf: url)), gzipped: true)
            }
            _ = await Flusher(state: server.state).flushDue(final: true)
        }
        let loose = try await stores.blobs.listAll(prefix: "assets/sha256/")
        #expect(loose.count > 1000, "\(loose.count) loose asset objects")

        try await withServer(stores, tenant: "t") { server in
            let repacker = Repacker(blobs: stores.blobs, metadata: server.state.metadata, policy: server.state.configuration.pack)
            let first = try await repacker.run(pageSize: 300, stopAfterPages: 2)
            #expect(first.packed > 0 && first.packed <= 600 && first.packs >= 1)
            // Reads go on while half the store is packed and half is loose.
            for url in sessions.prefix(2) { #expect(try await server.client.readEvents(Corpus.recordingID(url)) == expected[Corpus.recordingID(url)]) }
            var pages = 0
            let rest = try await repacker.run(pageSize: 300) { _ in pages += 1 }
            #expect(pages >= 2 && rest.damaged.isEmpty)
            #expect(first.packed + rest.packed + rest.large == loose.count, "every loose object moved or left for its size")
            let left = try await stores.blobs.listAll(prefix: "assets/sha256/")
            #expect(left.count == rest.large, "only the large ones stay loose")
            #expect(try await stores.blobs.listAll(prefix: "packs/").count == first.packs + rest.packs)
            for url in sessions {
                let id = Corpus.recordingID(url)
                #expect(try await server.client.readEvents(id) == expected[id], "\(id) reads back byte for byte after repack")
            }
            // Nothing left to do: a third run lists only the large objects.
            let again = try await repacker.run()
            #expect(again.packed == 0 && again.packs == 0 && again.listed == rest.large)
        }
    }

    /// An asset packed under one --pack-threshold is still served whole after the threshold
    /// is lowered below its size (it is not an object of its own, and must not be taken for lost).
    @Test(arguments: TestStores.available)
    func anAssetPackedUnderALargerThresholdIsStillServed(stores kind: TestStores) async throws {
        let stores = try await SharedStores(kind)
        var generator = SplitMix64(seed: 3)
        let bytes = (0..<300_000).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let digest = SHA256Digest.hash(bytes)
        try await withServer(stores, tenant: "t") { server in
            #expect(try await server.client.putAsset(digest, bytes: bytes))
            _ = try await Packer(blobs: stores.blobs, index: server.state.metadata, policy: server.state.configuration.pack)
                .packDue(all: true, now: ServerState.now())
            guard case .packed? = try await server.state.metadata.assetLocation(digest) else {
                Issue.record("the upload was not packed")
                return
            }
        }
        try await withServer(stores, tenant: "t", configure: { $0.pack.maxAssetBytes = 100_000 }) { server in
            let read = try await server.client.send("GET", "/assets/\(digest)")
            #expect(read.status == 200 && read.body == bytes)
            let part = try await server.client.send("GET", "/assets/\(digest)", headers: [("Range", "bytes=299990-")])
            #expect(part.status == 206 && part.body == Array(bytes[299_990...]))
        }
    }
}
