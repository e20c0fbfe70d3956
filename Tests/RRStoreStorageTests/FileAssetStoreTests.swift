import Foundation
import RRStoreCore
import RRStoreStorage
import Testing

@Suite struct FileAssetStoreTests {
    func temporaryRoot() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    func put(_ store: FileAssetStore, _ text: String) throws -> (SHA256Digest, Bool) {
        let bytes = Array(text.utf8)
        let digest = SHA256Digest.hash(bytes)
        let isNew = try bytes.withUnsafeBytes { try store.put(digest, bytes: $0) }
        return (digest, isNew)
    }

    @Test func stagedAssetsAppearUnderTheirNamesOnlyWhenCommitted() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileAssetStore(root: root, batchSize: 100)
        let (digest, isNew) = try put(store, "hello asset")
        #expect(isNew)
        #expect(try put(store, "hello asset").1 == false, "a second put of the same digest stores nothing")
        #expect(!FileManager.default.fileExists(atPath: store.path(of: digest)), "not under its final name before commit")
        #expect(try store.get(digest) == Array("hello asset".utf8), "but readable by its writer")
        try store.commit()
        #expect(FileManager.default.fileExists(atPath: store.path(of: digest)))
        #expect(store.path(of: digest).hasSuffix("sha256/\(digest.hex.prefix(2))/\(digest.hex.dropFirst(2).prefix(2))/\(digest.hex)"))
        let incoming = try FileManager.default.contentsOfDirectory(atPath: root + "/.incoming")
        #expect(incoming.isEmpty)

        let reopened = try FileAssetStore(root: root)
        #expect(reopened.contains(digest))
        #expect(try reopened.get(digest) == Array("hello asset".utf8))
    }

    @Test func aFullBatchCommitsItselfAndUncommittedFilesAreDropped() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var digests: [SHA256Digest] = []
        do {
            let store = try FileAssetStore(root: root, batchSize: 3)
            for i in 0..<4 { digests.append(try put(store, "asset \(i)").0) }
        }
        let files = digests.map { FileManager.default.fileExists(atPath: try! FileAssetStore(root: root).path(of: $0)) }
        #expect(files == [true, true, true, false], "the first three were committed as a batch; the fourth never was")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/.incoming").isEmpty)
    }

    @Test func corruptAndMissingAssetsAreClearErrors() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try FileAssetStore(root: root)
        let (digest, _) = try put(store, "original bytes")
        try store.commit()
        try Data("tampered bytes".utf8).write(to: URL(fileURLWithPath: store.path(of: digest)))
        let fresh = try FileAssetStore(root: root)
        #expect { try fresh.get(digest) } throws: { ($0 as? RRStoreError)?.code == .corruptAsset }
        #expect { try fresh.get(SHA256Digest.hash(Array("absent".utf8))) } throws: { ($0 as? RRStoreError)?.code == .missingAsset }
    }
}
