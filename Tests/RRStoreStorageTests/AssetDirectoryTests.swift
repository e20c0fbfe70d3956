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
}
