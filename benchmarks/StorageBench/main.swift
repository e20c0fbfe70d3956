// Put/get throughput of a BlobStore (filesystem or S3) for a few blob sizes.
// Usage: rrstore-storage-bench file DIR | s3 ENDPOINT BUCKET — prints one JSON object per size.
import Foundation
import RRStoreCore
import RRStoreStorage

@main
struct StorageBench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3 else {
            FileHandle.standardError.write(Data("usage: rrstore-storage-bench file DIR | s3 ENDPOINT BUCKET\n".utf8))
            exit(2)
        }
        let store: any BlobStore
        if arguments[1] == "file" {
            store = try FileBlobStore(root: arguments[2])
        } else {
            let s3 = try S3BlobStore(configuration: S3Configuration(
                endpoint: arguments[2], bucket: arguments[3],
                credentials: AWSCredentials(accessKeyID: "bench", secretAccessKey: "bench")))
            try await s3.createBucketIfMissing()
            store = s3
        }
        // Enough blobs per size for a few seconds each; sizes as the issue asks.
        for (size, count) in [(4 << 10, 400), (100 << 10, 200), (5 << 20, 12)] {
            var blobs: [(BlobKey, [UInt8])] = []
            for i in 0..<count {
                var bytes = [UInt8](repeating: 0, count: size)
                var state = UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
                for j in stride(from: 0, to: size, by: 8) {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    withUnsafeBytes(of: state) { word in
                        for k in 0..<min(8, size - j) { bytes[j + k] = word[k] }
                    }
                }
                blobs.append((BlobKey.asset(SHA256Digest.hash(bytes)), bytes))
            }
            let clock = ContinuousClock()
            let putStart = clock.now
            for (key, bytes) in blobs {
                _ = try await store.put(key, bytes: bytes, expecting: BlobExpectation(digest: SHA256Digest.hash(bytes), size: bytes.count), createOnly: true)
            }
            let putSeconds = (clock.now - putStart).seconds
            let getStart = clock.now
            for (key, bytes) in blobs {
                let back = try await store.get(key)
                precondition(back.count == bytes.count, "short read of \(key)")
            }
            let getSeconds = (clock.now - getStart).seconds
            for (key, _) in blobs { try await store.delete(key) }
            print("{\"size\": \(size), \"count\": \(count), \"put_seconds\": \(putSeconds), \"get_seconds\": \(getSeconds)}")
        }
    }
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
