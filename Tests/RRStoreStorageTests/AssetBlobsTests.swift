import Foundation
import RRStoreCore
import RRStoreStorage
import Testing

/// Assets compressed at rest: found whatever the reader guesses, whole, from memory or a file.
@Suite struct AssetBlobsTests {
    @Test func storedEitherWayAndFoundWhateverTheGuess() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-assetblobs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for blobs in [InMemoryBlobStore(), try FileBlobStore(root: directory + "/blobs")] as [any BlobStore] {
            let assets = AssetBlobs(blobs)
            let text = Array(String(repeating: "body { color: red } ", count: 5000).utf8)
            let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47] + (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) }
            for (bytes, expected) in [(text, StoredEncoding.gzip), (png, .identity)] {
                let digest = SHA256Digest.hash(bytes)
                let (outcome, stored) = try await assets.store(digest, bytes: bytes)
                #expect(outcome == .created && stored > 0 && (expected == .identity ? stored == bytes.count : stored < bytes.count))
                #expect(try await assets.store(digest, bytes: bytes).0 == .alreadyExisted)
                #expect(try await assets.locate(digest, likely: .gzip)?.encoding == expected)
                #expect(try await assets.locate(digest, likely: .identity)?.encoding == expected)
                #expect(try await assets.bytes(digest, likely: .gzip) == bytes)
                #expect(try await assets.bytes(digest, likely: .identity) == bytes)

                // The same from a spooled file (large uploads).
                let copy = SHA256Digest.hash(bytes + [0])
                let path = directory + "/spool-\(UUID().uuidString)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try Data(bytes + [0]).write(to: URL(fileURLWithPath: path))
                let fromFile = try await assets.store(copy, file: path, size: bytes.count + 1)
                #expect(fromFile.0 == .created)
                #expect(try await assets.locate(copy, likely: .identity)?.encoding == expected)
                #expect(try await assets.bytes(copy, likely: .identity) == bytes + [0])
                #expect(!FileManager.default.fileExists(atPath: path + ".gz"), "the compressed temporary file is removed")
            }
            let absent = SHA256Digest.hash([9])
            #expect(try await assets.locate(absent, likely: .gzip) == nil)
            await #expect(throws: RRStoreError.self) { try await assets.bytes(absent, likely: .gzip) }
        }
    }
}
