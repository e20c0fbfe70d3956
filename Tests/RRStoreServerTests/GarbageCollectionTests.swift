import Foundation
import RRStoreClient
import RRStoreCore
import RRStoreStorage
import Testing
import RRStoreTestSupport
@testable import RRStoreServer

/// `GarbageCollector` on both store pairs: what it frees, what it must never free (the
/// races of the issue, interleaved deterministically through its hooks), packs, orphans,
/// the lease; and retention with a clock the test controls.
@Suite struct GarbageCollectionTests {
    /// Loads sessions by raw ingest, flushed and packed as a server leaves them at rest.
    static func load(_ sessions: [URL], into server: RunningServer) async throws {
        for url in sessions {
            let id = Corpus.recordingID(url)
            _ = try await server.client.createRecording(id: id)
            _ = try await server.client.appendRawEvents(id, body: Array(try Data(contentsOf: url)), gzipped: true)
        }
        _ = await Flusher(state: server.state).flushDue(final: true)
        _ = try await Packer(blobs: server.state.blobs, index: server.state.metadata, policy: server.state.configuration.pack)
            .packDue(all: true, now: ServerState.now())
    }

    /// Bytes of asset objects, packs and event chunks.
    static func storedBytes(_ blobs: any BlobStore) async throws -> (assets: Int, packs: Int, chunks: Int) {
        func sum(_ prefix: String) async throws -> Int { try await blobs.listAll(prefix: prefix).reduce(0) { $0 + $1.size } }
        return (try await sum("assets/"), try await sum("packs/"), try await sum("rrweb/recordings/"))
    }

    static func collector(_ server: RunningServer, grace: Int = 0, rewriteBelow: Double = 0.5, hooks: GCHooks = GCHooks()) -> GarbageCollector {
        var policy = GCPolicy()
        policy.graceSeconds = grace
        policy.rewriteBelow = rewriteBelow
        policy.touchResolutionMillis = 0
        return GarbageCollector(blobs: server.state.blobs, index: server.state.metadata, policy: policy,
                                packPolicy: server.state.configuration.pack, hooks: hooks)
    }

    static func noTouchDelay(_ configuration: inout ServerConfiguration) {
        configuration.lifecycle.gc.touchResolutionMillis = 0
    }

    @Test(arguments: TestStores.available)
    func deletingHalfThenCollectingKeepsWhatAFreshStoreOfTheOtherHalfKeeps(stores kind: TestStores) async throws {
        try await HeavyTests.withTurn { try await deletingHalfThenCollecting(stores: kind) }
    }

    private func deletingHalfThenCollecting(stores kind: TestStores) async throws {
        let sessions = try Corpus.sessions()
        let kept = sessions.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        let dropped = sessions.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        var expecting: [String: [UInt8]] = [:]
        for url in kept { expecting[Corpus.recordingID(url)] = try expectedNDJSON(try GzipDecoder.decompress(Array(try Data(contentsOf: url)))) }
        let expected = expecting

        let fresh = try await SharedStores(kind)
        try await withServer(fresh, tenant: "t") { server in try await Self.load(kept, into: server) }
        let freshBytes = try await Self.storedBytes(fresh.blobs)

        let stores = try await SharedStores(kind)
        try await withServer(stores, tenant: "t", configure: Self.noTouchDelay) { server in
            try await Self.load(sessions, into: server)
            for url in dropped { #expect(try await server.client.deleteRecording(Corpus.recordingID(url))) }
            let full = try await Self.storedBytes(stores.blobs)
            // A dry run changes nothing and says what a run would do.
            let dry = try await Self.collector(server, rewriteBelow: 0.9).run(now: ServerState.now() + 1000, dryRun: true)
            let untouched = try await Self.storedBytes(stores.blobs)
            #expect(dry.assets.count > 100 && dry.dryRun && untouched == full)
            let report = try await Self.collector(server, rewriteBelow: 0.9).run(now: ServerState.now() + 1000)
            #expect(report.assets.count == dry.assets.count && report.assets.bytes == dry.assets.bytes, "the dry run foretold the run")
            #expect(report.packsRewritten + report.packsDeleted > 0)
            let after = try await Self.storedBytes(stores.blobs)
            let total = after.assets + after.packs + after.chunks, freshTotal = freshBytes.assets + freshBytes.packs + freshBytes.chunks
            #expect(Double(total) <= Double(freshTotal) * 1.05,
                    "after gc \(after) (\(total)) against a fresh store of the kept half \(freshBytes) (\(freshTotal)); before gc \(full)")
            #expect(after.chunks == freshBytes.chunks)
            print("gc after deleting half: \(after) against a fresh store of that half: \(freshBytes); before gc: \(full)")
            for url in kept {
                let id = Corpus.recordingID(url)
                #expect(try await server.client.readEvents(id) == expected[id], "\(id) reads back byte for byte after gc")
            }
            // A second run finds nothing more.
            let again = try await Self.collector(server, rewriteBelow: 0.9).run(now: ServerState.now() + 1000)
            #expect(again.assets.count == 0 && again.packsRewritten == 0 && again.orphans.count == 0)

            // Delete everything: no asset, pack or chunk bytes remain.
            for url in kept { #expect(try await server.client.deleteRecording(Corpus.recordingID(url))) }
            _ = try await Self.collector(server).run(now: ServerState.now() + 1000)
            let empty = try await Self.storedBytes(stores.blobs)
            #expect(empty == (0, 0, 0), "\(empty)")
            #expect(try await server.state.metadata.indexedAssets(after: nil, limit: 10).isEmpty)
            #expect(try await server.state.metadata.packs().isEmpty)
        }
    }

    /// A tree (T) naming a child (C), neither referenced by any recording and both older
    /// than the grace period. During the mark, an event batch naming T is posted: the
    /// sweep must keep C, which only T's touch (not C's row) says is live.
    @Test(arguments: TestStores.available)
    func anEventBatchNamingAnOldTreeDuringTheMarkKeepsItsChildren(stores kind: TestStores) async throws {
        try await withServer(try await SharedStores(kind), tenant: "t", configure: Self.noTouchDelay) { server in
            let child = Array(String(repeating: "child text ", count: 400).utf8)
            let childDigest = SHA256Digest.hash(child)
            let tree = Array(#"{"type":2,"attributes":{"note":"rrasset:\#(childDigest)"},"childNodes":[]}"#.utf8)
            let treeDigest = SHA256Digest.hash(tree)
            #expect(try await server.client.putAsset(childDigest, bytes: child))
            #expect(try await server.client.putAsset(treeDigest, bytes: tree))
            _ = try await server.client.createRecording(id: "later")
            try await Task.sleep(for: .milliseconds(20))
            let event = Array(#"[{"type":3,"data":"rrtree:\#(treeDigest)","timestamp":1}]"#.utf8)
            let client = server.client
            var hooks = GCHooks()
            hooks.afterMark = { _ = try? await client.appendRawEvents("later", body: event, rewritten: true) }
            let report = try await Self.collector(server, hooks: hooks).run()
            #expect(report.assets.count == 0, "deleted \(report.assets)")
            let read = try await server.client.readEvents("later")
            #expect(String(decoding: read, as: UTF8.self).contains("child text child text"))
        }
    }

    /// Answers given during the mark — "present" from the have-set, an upload of an asset
    /// held already, a raw ingest that finds its assets stored — keep those assets.
    @Test(arguments: TestStores.available)
    func assetsAClientWasJustToldAboutSurviveTheSweep(stores kind: TestStores) async throws {
        try await withServer(try await SharedStores(kind), tenant: "t", configure: Self.noTouchDelay) { server in
            var generator = SplitMix64(seed: 16)
            func random(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: generator.next()) } }
            let asked = random(5000), uploaded = random(6000), unwanted = random(7000)
            for bytes in [asked, uploaded, unwanted] { #expect(try await server.client.putAsset(SHA256Digest.hash(bytes), bytes: bytes)) }
            // A session ingested raw, then deleted: its assets are unreferenced.
            let session = try #require(try Corpus.sessions().first)
            let body = Array(try Data(contentsOf: session))
            _ = try await server.client.createRecording(id: "first")
            _ = try await server.client.appendRawEvents("first", body: body, gzipped: true)
            _ = await Flusher(state: server.state).flushDue(final: true)
            #expect(try await server.client.deleteRecording("first"))
            _ = try await server.client.createRecording(id: "again")
            try await Task.sleep(for: .milliseconds(20))

            let client = server.client
            var hooks = GCHooks()
            hooks.afterMark = {
                _ = try? await client.missingAssets([(SHA256Digest.hash(asked), asked.count)])
                _ = try? await client.putAsset(SHA256Digest.hash(uploaded), bytes: uploaded)
                _ = try? await client.appendRawEvents("again", body: body, gzipped: true)
            }
            let report = try await Self.collector(server, hooks: hooks).run()
            #expect(report.assets.count == 1 && report.assets.bytes == unwanted.count, "only the untouched upload goes: \(report.assets)")
            #expect(try await server.client.getAsset(SHA256Digest.hash(asked)) == asked)
            #expect(try await server.client.getAsset(SHA256Digest.hash(uploaded)) == uploaded)
            #expect(try await server.client.getAsset(SHA256Digest.hash(unwanted)) == nil)
            #expect(try await server.client.readEvents("again") == expectedNDJSON(try GzipDecoder.decompress(body)))
        }
    }

    @Test(arguments: TestStores.available)
    func oneCollectorRunsAtATime(stores kind: TestStores) async throws {
        try await withServer(try await SharedStores(kind), tenant: "t") { server in
            let metadata = server.state.metadata
            #expect(try await metadata.acquireLease(GarbageCollector.leaseName, holder: "other", now: ServerState.now(), seconds: 60))
            #expect(try await Self.collector(server).run().skipped)
            #expect(try await !Self.collector(server).run(dryRun: true).skipped, "a dry run changes nothing and needs no lease")
            try await metadata.releaseLease(GarbageCollector.leaseName, holder: "other")
            #expect(try await !Self.collector(server).run().skipped)
            // An expired lease is taken over.
            #expect(try await metadata.acquireLease(GarbageCollector.leaseName, holder: "stale", now: ServerState.now() - 120_000, seconds: 60))
            #expect(try await !Self.collector(server).run().skipped)
        }
    }

    /// Objects no row names go once older than the grace period, and not before.
    @Test(arguments: TestStores.available)
    func orphansGoAfterTheGracePeriod(stores kind: TestStores) async throws {
        let stores = try await SharedStores(kind)
        try await withServer(stores, tenant: "t") { server in
            let pack = try BlobKey.pack("0000000000001-deadbeefdeadbeef")
            let chunk = try BlobKey.eventChunk(tenant: "t", recording: "gone", firstEvent: 0, count: 3, encoding: .zstd)
            let bytes = Array("orphan".utf8)
            let loose = BlobKey.asset(SHA256Digest.hash(bytes))
            for key in [pack, chunk, loose] { _ = try await stores.blobs.put(key, bytes: bytes) }
            let young = try await Self.collector(server, grace: 3600).run()
            #expect(young.orphans.count == 0)
            let old = try await Self.collector(server, grace: 0).run(now: ServerState.now() + 5000)
            #expect(old.orphans.count == 3 && old.orphans.byKind.keys.sorted() == ["asset", "chunk", "pack"], "\(old.orphans)")
            for key in [pack, chunk, loose] { #expect(try await stores.blobs.head(key) == nil) }
        }
    }

    @Test(arguments: TestStores.available)
    func retentionDeletesRecordingsPastTheirDaysAndKeepsYoungerOnes(stores kind: TestStores) async throws {
        let day: Int64 = 86_400_000
        let now = ServerState.now()
        var policy = LifecyclePolicy()
        policy.retentionDays = 30
        policy.tenantRetentionDays = ["short": 7, "forever": 0]
        let chosen = policy
        try await withServer(try await SharedStores(kind), tenant: "t") { server in
            let metadata = server.state.metadata
            for (tenant, id, age) in [("t", "old", 31), ("t", "young", 29), ("short", "old", 8), ("short", "young", 6),
                                      ("forever", "old", 400)] {
                _ = try await metadata.createRecording(RecordingRecord(tenant: tenant, id: id, createdAt: now - Int64(age) * day))
                _ = try await metadata.appendEvents(tenant: tenant, recording: id, events: [Array(#"{"type":4}"#.utf8)], idempotencyKey: nil, at: now)
            }
            _ = await Flusher(state: server.state).flushDue(final: true)
            let retention = RetentionService(state: server.state, policy: chosen, clock: { now })
            #expect(try await retention.pass() == 2)
            #expect(try await metadata.recording(tenant: "t", id: "old") == nil)
            #expect(try await metadata.recording(tenant: "t", id: "young") != nil)
            #expect(try await metadata.recording(tenant: "short", id: "old") == nil)
            #expect(try await metadata.recording(tenant: "short", id: "young") != nil)
            #expect(try await metadata.recording(tenant: "forever", id: "old") != nil)
            #expect(try await server.state.blobs.listAll(prefix: "rrweb/recordings/userId=t/sessionId=old/").isEmpty, "its chunks went too")
            #expect(try await !server.state.blobs.listAll(prefix: "rrweb/recordings/userId=t/sessionId=young/").isEmpty)
            // Ten days on, both young ones are past their time; "forever" stays.
            #expect(try await RetentionService(state: server.state, policy: chosen, clock: { now + 10 * day }).pass() == 2)
            #expect(try await metadata.recording(tenant: "forever", id: "old") != nil)
        }
    }

    /// `serve --retention-days` runs retention in the background on its own.
    @Test(arguments: TestStores.available)
    func retentionRunsInTheBackground(stores kind: TestStores) async throws {
        try await withServer(try await SharedStores(kind), tenant: "t", configure: {
            $0.lifecycle.retentionDays = 30
            $0.lifecycle.retentionIntervalSeconds = 0.2
        }) { server in
            let old = ServerState.now() - 40 * 86_400_000
            _ = try await server.state.metadata.createRecording(RecordingRecord(tenant: "t", id: "old", createdAt: old))
            _ = try await server.state.metadata.createRecording(RecordingRecord(tenant: "t", id: "new", createdAt: ServerState.now()))
            var gone = false
            for _ in 0..<100 where !gone {
                gone = try await server.state.metadata.recording(tenant: "t", id: "old") == nil
                if !gone { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(gone, "the recording past its retention went")
            #expect(try await server.state.metadata.recording(tenant: "t", id: "new") != nil)
        }
    }

    @Test func usageCountsOnlyTheTenantsOwnRows() async throws {
        let stores = try await SharedStores(.embedded)
        let session = try #require(try Corpus.sessions().first)
        let body = Array(try Data(contentsOf: session))
        try await withServer(stores, tenant: "a") { server in
            for id in ["one", "two"] {
                _ = try await server.client.createRecording(id: id)
                _ = try await server.client.appendRawEvents(id, body: body, gzipped: true)
            }
            _ = await Flusher(state: server.state).flushDue(final: true)
            let usage = try await server.client.send("GET", "/usage")
            #expect(usage.status == 200)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(usage.body)) as? [String: Any])
            #expect(json["recordings"] as? Int == 2 && (json["asset_bytes"] as? Int ?? 0) > 0)
            let shared = json["asset_bytes_shared_by_recordings"] as? Int ?? 0
            #expect(shared > 0 && shared <= json["asset_bytes"] as? Int ?? 0, "both recordings name the same assets")
        }
        try await withServer(stores, tenant: "b") { server in
            let usage = try await server.client.send("GET", "/usage")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(usage.body)) as? [String: Any])
            #expect(json["recordings"] as? Int == 0 && json["asset_bytes"] as? Int == 0, "another tenant's usage shows none of a's")
        }
    }

    static func storage(_ server: RunningServer, _ id: String) async throws -> [String: Any] {
        let answer = try await server.client.send("GET", "/recordings/\(id)/storage")
        #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
    }
    /// This test is about figures, not latency: beside gc's delete-half on the same moto, a
    /// batch's asset PUTs took longer than the 20 s store deadline twice in full runs.
    static let patientStores: @Sendable (inout ServerConfiguration) -> Void = { $0.limits.storeDeadlineSeconds = 120 }

    static func fileSize(_ url: URL) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? .max
    }
    static func assets(_ json: [String: Any]) -> [[String: Any]] { json["assets"] as? [[String: Any]] ?? [] }
    static func total(_ json: [String: Any]) -> Int { assets(json).reduce(0) { $0 + ($1["size"] as? Int ?? 0) } }

    /// `GET /recordings/{id}/storage`: the recording's assets, each with how many of the
    /// tenant's recordings name it; the bytes only it names and the bytes it shares add up
    /// to its assets' bytes; another tenant's recordings never count, nor show.
    @Test(arguments: TestStores.available)
    func aRecordingsStorageListsItsAssetsAndWhatItShares(stores kind: TestStores) async throws {
        let stores = try await SharedStores(kind)
        let sessions = try Corpus.sessions()
        // The smallest session of two sites: the figures need sharing, not volume.
        let smallest = sessions.sorted { Self.fileSize($0) < Self.fileSize($1) }
        let first = try #require(smallest.first)
        let other = try #require(smallest.first { $0.deletingLastPathComponent() != first.deletingLastPathComponent() })
        try await withServer(stores, tenant: "a", configure: Self.patientStores) { server in
            for (id, url) in [("one", first), ("two", first), ("three", other)] {
                _ = try await server.client.createRecording(id: id)
                _ = try await server.client.appendRawEvents(id, body: Array(try Data(contentsOf: url)), gzipped: true)
            }
            let one = try await Self.storage(server, "one")
            #expect(!Self.assets(one).isEmpty)
            #expect(Self.assets(one).allSatisfy { ($0["recordings"] as? Int ?? 0) >= 2 }, "two recordings hold the same events")
            #expect(one["asset_bytes_in_this_recording_only"] as? Int == 0)
            #expect(one["asset_bytes_shared_with_other_recordings"] as? Int == Self.total(one) && Self.total(one) > 0)
            let three = try await Self.storage(server, "three")
            let alone = three["asset_bytes_in_this_recording_only"] as? Int ?? -1
            let shared = three["asset_bytes_shared_with_other_recordings"] as? Int ?? -1
            #expect(alone > 0 && alone + shared == Self.total(three), "\(alone) + \(shared) of \(Self.total(three))")
            let sizes = Self.assets(three).map { $0["size"] as? Int ?? 0 }
            #expect(sizes == sizes.sorted(by: >), "largest first")
            #expect(Self.assets(three).allSatisfy { ($0["digest"] as? String)?.hasPrefix("sha256:") == true && $0["kind"] is String })
        }
        try await withServer(stores, tenant: "b", configure: Self.patientStores) { server in
            #expect(try await server.client.send("GET", "/recordings/two/storage").status == 404, "a's recording is not b's")
            _ = try await server.client.createRecording(id: "one")
            _ = try await server.client.appendRawEvents("one", body: Array(try Data(contentsOf: first)), gzipped: true)
            let one = try await Self.storage(server, "one")
            #expect(Self.assets(one).allSatisfy { $0["recordings"] as? Int == 1 }, "a's recordings never count for b")
            #expect(one["asset_bytes_shared_with_other_recordings"] as? Int == 0 && one["asset_bytes_in_this_recording_only"] as? Int == Self.total(one))
        }
    }
}
