import Foundation
import RRStoreCore
import RRStoreStorage
import Testing

/// The CLI's asset directory: the service's layout in a batched filesystem blob store.
@Suite struct AssetDirectoryTests {
    func temporaryRoot() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    func put(_ store: AssetDirectory, _ text: String) throws -> (SHA256Digest, Bool) {
        let bytes = Array(text.utf8)
        let digest = SHA256Digest.hash(bytes)
        let isNew = try bytes.withUnsafeBytes { try store.put(digest, bytes: $0) }
        return (digest, isNew)
    }

    func finalPath(_ root: String, _ digest: SHA256Digest, _ encoding: StoredEncoding = .identity) -> String {
        "\(root)/\(BlobKey.asset(digest, encoding).rawValue)"
    }

    @Test func stagedAssetsAppearUnderTheirNamesOnlyWhenCommitted() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try AssetDirectory(root: root, batchSize: 100)
        let (digest, isNew) = try put(store, "hello asset")
        #expect(isNew)
        #expect(try put(store, "hello asset").1 == false, "a second put of the same digest stores nothing")
        #expect(!FileManager.default.fileExists(atPath: finalPath(root, digest)), "not under its final name before commit")
        #expect(try store.get(digest) == Array("hello asset".utf8), "but readable by its writer")
        try store.commit()
        #expect(FileManager.default.fileExists(atPath: finalPath(root, digest)))
        #expect(finalPath(root, digest).hasSuffix("assets/sha256/\(digest.hex.prefix(2))/\(digest.hex.dropFirst(2).prefix(2))/\(digest.hex)"),
                "the service's layout")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/.incoming").isEmpty)

        let reopened = try AssetDirectory(root: root)
        #expect(try reopened.contains(digest))
        #expect(try reopened.get(digest) == Array("hello asset".utf8))
    }

    @Test func compressibleAssetsAreKeptAsTheServiceKeepsThemAndTheServiceReadsThem() async throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let css = String(repeating: "body .x > a { color: red; }\n", count: 200)
        let store = try AssetDirectory(root: root)
        let (digest, _) = try put(store, css)
        try store.commit()
        #expect(FileManager.default.fileExists(atPath: finalPath(root, digest, .gzip)), "stored as gzip, like the service")
        #expect(!FileManager.default.fileExists(atPath: finalPath(root, digest)))
        // The service's code reads what the CLI wrote, and the CLI reads what the service wrote.
        let service = AssetBlobs(try FileBlobStore(root: root))
        #expect(try await service.bytes(digest, likely: .identity) == Array(css.utf8))
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47] + (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }
        let pngDigest = SHA256Digest.hash(png)
        _ = try await service.store(pngDigest, bytes: png)
        #expect(try AssetDirectory(root: root).get(pngDigest, likely: .gzip) == png)
    }

    @Test func aFullBatchCommitsItselfAndUncommittedFilesAreDropped() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var digests: [SHA256Digest] = []
        do {
            let store = try AssetDirectory(root: root, batchSize: 3)
            for i in 0..<4 { digests.append(try put(store, "asset \(i)").0) }
        }
        let files = digests.map { FileManager.default.fileExists(atPath: finalPath(root, $0)) }
        #expect(files == [true, true, true, false], "the first three were committed as a batch; the fourth never was")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/.incoming").isEmpty)
    }

    @Test func corruptAndMissingAssetsAreClearErrors() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try AssetDirectory(root: root)
        let (digest, _) = try put(store, "original bytes")
        try store.commit()
        try Data("tampered bytes".utf8).write(to: URL(fileURLWithPath: finalPath(root, digest)))
        let fresh = try AssetDirectory(root: root)
        #expect { try fresh.get(digest) } throws: { ($0 as? RRStoreError)?.code == .corruptAsset }
        #expect { try fresh.get(SHA256Digest.hash(Array("absent".utf8))) } throws: { ($0 as? RRStoreError)?.code == .missingAsset }
    }

    /// With packs: small assets go into packs (a pack written once it is full and at
    /// commit), a large one is an object of its own, the writer reads a pending asset, and
    /// a reopened directory finds them all through the packs' trailers.
    @Test func smallAssetsGoIntoPacksThatDescribeThemselves() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var policy = AssetDirectory.cliPacks
        policy.packBytes = 64 << 10
        policy.blockBytes = 16 << 10
        policy.maxAssetBytes = 100_000
        let store = try AssetDirectory(root: root, packs: policy)
        var written: [(SHA256Digest, [UInt8])] = []
        for i in 0..<300 {
            let bytes = Array("{\"tagName\":\"li\",\"text\":\"item \(i) \(String(repeating: "of a long list ", count: 30))\"}".utf8)
            written.append((SHA256Digest.hash(bytes), bytes))
            #expect(try bytes.withUnsafeBytes { try store.put(SHA256Digest.hash(bytes), bytes: $0) })
        }
        let large = [UInt8](repeating: 7, count: 150_000)
        #expect(try large.withUnsafeBytes { try store.put(SHA256Digest.hash(large), bytes: $0) })
        #expect(try written[0].1.withUnsafeBytes { try store.put(written[0].0, bytes: $0) } == false, "a repeat is stored once")
        #expect(try store.get(written[299].0) == written[299].1, "the writer reads what waits in the pack being filled")
        try store.commit()
        let packs = try FileManager.default.contentsOfDirectory(atPath: root + "/packs")
        #expect(packs.count >= 2, "full packs were written as they filled: \(packs)")
        #expect(FileManager.default.fileExists(atPath: root + "/" + BlobKey.asset(SHA256Digest.hash(large), .gzip).rawValue), "large: an object of its own")
        let reopened = try AssetDirectory(root: root, packs: policy)
        for (digest, bytes) in written { #expect(try reopened.contains(digest) && reopened.get(digest) == bytes) }
        #expect(try reopened.get(SHA256Digest.hash(large)) == large)
        // A damaged pack (a block, or its trailer) is an error that names it, not wrong bytes.
        let name = packs.sorted()[0], path = root + "/packs/" + name
        var damaged = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        damaged[damaged.count / 3] ^= 0x55
        try Data(damaged).write(to: URL(fileURLWithPath: path))
        let fresh = try AssetDirectory(root: root)
        let failures = written.filter { digest, _ in (try? fresh.get(digest)) == nil }
        #expect(!failures.isEmpty)
        #expect { try fresh.get(failures[0].0) } throws: { error in
            (error as? RRStoreError).map { [.corruptAsset, .missingAsset].contains($0.code) && $0.message.contains(name) } == true
        }
    }
}
