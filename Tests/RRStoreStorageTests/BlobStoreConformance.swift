import Foundation
import RRStoreCore
import RRStoreStorage
import Testing

/// One suite every BlobStore must pass (restic's backend tests in spirit). `prefix` keeps
/// runs against a shared bucket apart.
struct BlobStoreConformance<Store: BlobStore> {
    let store: Store
    let prefix: String

    func key(_ name: String) throws -> BlobKey { try BlobKey("\(prefix)\(name)") }

    func run() async throws {
        try await roundTripsRangesAndHeads()
        try await missingKeys()
        try await wrongDigestOrSizeLeavesNothingBehind()
        try await createOnlyKeepsTheFirstWriter()
        try await concurrentPutsOfTheSameDigest()
        try await listsInOrderPageByPage()
        try await filesStreamInAndOut()
        try await deleteIsIdempotent()
    }

    func roundTripsRangesAndHeads() async throws {
        let k = try key("round/trip.bin")
        let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        #expect(try await store.put(k, bytes: bytes, expecting: BlobExpectation(digest: SHA256Digest.hash(bytes), size: bytes.count)) == .created)
        #expect(try await store.get(k) == bytes)
        #expect(try await store.get(k, range: 10..<20) == Array(bytes[10..<20]))
        #expect(try await store.get(k, range: 99_990..<200_000) == Array(bytes[99_990...]), "a range past the end is clamped")
        await #expect { try await store.get(k, range: 100_000..<100_010) } throws: { ($0 as? RRStoreError)?.code == .invalidRange }
        #expect(try await store.head(k)?.size == bytes.count)
        // Replacing (not create-only) overwrites.
        #expect(try await store.put(k, bytes: Array("short".utf8)) == .created)
        #expect(try await store.get(k) == Array("short".utf8))
        let empty = try key("round/empty")
        #expect(try await store.put(empty, bytes: []) == .created)
        #expect(try await store.get(empty) == [])
        #expect(try await store.head(empty)?.size == 0)
    }

    func missingKeys() async throws {
        let k = try key("missing/nothing-here")
        #expect(try await store.head(k) == nil)
        await #expect { try await store.get(k) } throws: { ($0 as? RRStoreError)?.code == .blobNotFound }
        await #expect { try await store.get(k, range: 0..<1) } throws: { ($0 as? RRStoreError)?.code == .blobNotFound }
    }

    func wrongDigestOrSizeLeavesNothingBehind() async throws {
        let k = try key("verify/blob")
        let bytes = Array("the real bytes".utf8)
        await #expect { try await store.put(k, bytes: bytes, expecting: BlobExpectation(digest: SHA256Digest.hash(Array("other".utf8)))) } throws: {
            ($0 as? RRStoreError)?.code == .digestMismatch
        }
        await #expect { try await store.put(k, bytes: bytes, expecting: BlobExpectation(size: bytes.count + 1)) } throws: {
            ($0 as? RRStoreError)?.code == .sizeMismatch
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-conf-\(UUID().uuidString)")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        await #expect { try await store.putFile(k, path: file.path, expecting: BlobExpectation(digest: SHA256Digest.hash(Array("x".utf8))), createOnly: true) } throws: {
            ($0 as? RRStoreError)?.code == .digestMismatch
        }
        #expect(try await store.head(k) == nil, "a rejected put stores nothing")
        #expect(try await store.list(prefix: "\(prefix)verify/", after: nil, limit: 100).blobs.isEmpty, "and leaves no temporary blob visible")
    }

    func createOnlyKeepsTheFirstWriter() async throws {
        let k = try key("create/once")
        #expect(try await store.put(k, bytes: Array("first".utf8), expecting: nil, createOnly: true) == .created)
        #expect(try await store.put(k, bytes: Array("second".utf8), expecting: nil, createOnly: true) == .alreadyExisted)
        #expect(try await store.get(k) == Array("first".utf8))
    }

    func concurrentPutsOfTheSameDigest() async throws {
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let digest = SHA256Digest.hash(bytes)
        let k = try key("concurrent/\(digest.hex)")
        let outcomes = try await withThrowingTaskGroup(of: PutOutcome.self) { group in
            for _ in 0..<8 {
                group.addTask { try await store.put(k, bytes: bytes, expecting: BlobExpectation(digest: digest, size: bytes.count), createOnly: true) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .created }.count >= 1)
        #expect(outcomes.count == 8)
        #expect(try await store.get(k) == bytes, "whatever the interleaving, the blob is whole")
    }

    func listsInOrderPageByPage() async throws {
        let names = (0..<25).map { "list/item-\(String(format: "%03d", $0))" } + ["list/sub/deeper", "list/a=b"]
        for name in names.shuffled() { _ = try await store.put(try key(name), bytes: Array(name.utf8)) }
        var seen: [String] = []
        var after: String?
        var pages = 0
        repeat {
            let page = try await store.list(prefix: "\(prefix)list/", after: after, limit: 10)
            #expect(page.blobs.count <= 10)
            seen += page.blobs.map(\.key.rawValue)
            after = page.next
            pages += 1
        } while after != nil && pages < 10
        let expected = names.map { "\(prefix)\($0)" }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        #expect(seen == expected)
        #expect(pages == 3)
        let sized = try await store.list(prefix: "\(prefix)list/item-007", after: nil, limit: 10).blobs
        #expect(sized == [BlobInfo(key: try key("list/item-007"), size: "list/item-007".utf8.count, etag: sized.first?.etag,
                                   lastModified: sized.first?.lastModified)])
        // Listings say when each object was written (the collector's test for an orphan's age).
        if let written = sized.first?.lastModified {
            #expect(abs(written - WallClock.millisecondsSince1970()) < 600_000, "written \(written)")
        } else {
            #expect(store is InMemoryBlobStore, "a durable store's listing gives each object's time")
        }
        #expect(try await store.list(prefix: "\(prefix)list/none", after: nil, limit: 10) == BlobPage(blobs: [], next: nil))
    }

    func filesStreamInAndOut() async throws {
        let k = try key("files/big.bin")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-conf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // Larger than S3's multipart threshold in the tests (6 MiB parts), not a multiple of it.
        var state = UInt64.random(in: 0...UInt64.max)
        let words = (0..<((13 << 20) + 12345 + 7) / 8).map { _ -> UInt64 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state ^ (state >> 29)
        }
        let bytes = Array(words.withUnsafeBytes { $0.prefix((13 << 20) + 12345) })
        let source = directory.appendingPathComponent("source")
        try Data(bytes).write(to: source)
        #expect(try await store.putFile(k, path: source.path, expecting: BlobExpectation(digest: SHA256Digest.hash(bytes), size: bytes.count), createOnly: true) == .created)
        #expect(try await store.putFile(k, path: source.path, expecting: nil, createOnly: true) == .alreadyExisted)
        let target = directory.appendingPathComponent("target")
        #expect(try await store.download(k, to: target.path).size == bytes.count)
        #expect(try Data(contentsOf: target) == Data(bytes))
        #expect(try await store.get(k, range: (7 << 20)..<((7 << 20) + 100)) == Array(bytes[(7 << 20)..<((7 << 20) + 100)]))
    }

    func deleteIsIdempotent() async throws {
        let k = try key("delete/me")
        _ = try await store.put(k, bytes: [1, 2, 3])
        try await store.delete(k)
        #expect(try await store.head(k) == nil)
        try await store.delete(k)
        await #expect { try await store.get(k) } throws: { ($0 as? RRStoreError)?.code == .blobNotFound }
    }
}

@Suite struct BlobStoreConformanceTests {
    @Test func inMemory() async throws {
        try await BlobStoreConformance(store: InMemoryBlobStore(), prefix: "t/").run()
    }

    @Test func filesystem() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-blobs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await BlobStoreConformance(store: try FileBlobStore(root: root), prefix: "t/").run()
        // No temporary file survives anything the suite did.
        let leftovers = FileManager.default.enumerator(atPath: root)?.allObjects.compactMap { $0 as? String }.filter { $0.contains(".tmp-") } ?? []
        #expect(leftovers.isEmpty)
    }

    /// Batched durability (the CLI's asset directory): the same contract, with blobs read
    /// from where they wait until a commit; committed ones survive the store.
    @Test func filesystemWithBatchedDurability() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-blobs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        for batch in [3, 1000] {
            let store = try FileBlobStore(root: root, durability: .batched(batch))
            try await BlobStoreConformance(store: store, prefix: "b\(batch)/").run()
            try store.commit()
            #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/.incoming").isEmpty)
        }
        let key = try BlobKey("kept/after/commit")
        do {
            let store = try FileBlobStore(root: root, durability: .batched(1000))
            #expect(try await store.put(key, bytes: [1, 2, 3], expecting: nil, createOnly: true) == .created)
            #expect(try await store.put(key, bytes: [9], expecting: nil, createOnly: true) == .alreadyExisted)
            try store.commit()
            _ = try await store.put(try BlobKey("never/committed"), bytes: [4], expecting: nil, createOnly: true)
        }
        let reopened = try FileBlobStore(root: root)
        #expect(try await reopened.get(key) == [1, 2, 3])
        #expect(try await reopened.head(try BlobKey("never/committed")) == nil, "not committed, not acknowledged")
    }

    @Test func keysAreValidated() throws {
        for bad in ["", "/abs", "a//b", "a/../b", "a/.hidden", "sp ace", "a\\b", "ü", String(repeating: "a", count: 1025)] {
            #expect(throws: RRStoreError.self) { try BlobKey(bad) }
        }
        #expect(BlobKey.asset(SHA256Digest.hash([1])).rawValue.hasPrefix("assets/sha256/"))
        // Asset keys are built without the check: they must pass it anyway.
        for seed in 0..<64 {
            let digest = SHA256Digest.hash([UInt8(seed)])
            for encoding in StoredEncoding.allCases {
                let key = BlobKey.asset(digest, encoding)
                #expect(try BlobKey(key.rawValue) == key)
                #expect(key.rawValue == "assets/sha256/\(digest.hex.prefix(2))/\(digest.hex.dropFirst(2).prefix(2))/\(digest.hex)" + (encoding == .gzip ? ".gz" : ""))
            }
        }
        #expect(try BlobKey.eventChunk(tenant: "u1", recording: "s-1", firstEvent: 42, count: 7).rawValue == "rrweb/recordings/userId=u1/sessionId=s-1/000000000042-000007.jsonl.gz")
        let zstdKey = try BlobKey.eventChunk(tenant: "u1", recording: "s-1", firstEvent: 42, count: 7, encoding: .zstd)
        #expect(zstdKey.rawValue == "rrweb/recordings/userId=u1/sessionId=s-1/000000000042-000007.jsonl.zst")
        #expect(ChunkEncoding(key: zstdKey.rawValue) == .zstd && ChunkEncoding(key: "a/b.jsonl.gz") == .gzip)
    }
}
