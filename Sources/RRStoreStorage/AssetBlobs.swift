#if canImport(Glibc)
import Glibc
#endif
import RRStoreCore
import RRStoreIO

/// Assets in a blob store, compressed at rest when that pays: an asset named by the
/// digest `D` of its bytes lives at `BlobKey.asset(D)` as those bytes, or at
/// `BlobKey.asset(D, .gzip)` as their gzip (see `StoredEncoding`). Readers pass what the
/// reference says the asset is, so they usually find it with the first request.
public struct AssetBlobs: Sendable {
    public let blobs: any BlobStore

    public init(_ blobs: any BlobStore) {
        self.blobs = blobs
    }

    /// A stored object of an asset.
    public struct Located: Sendable {
        public var encoding: StoredEncoding
        public var info: BlobInfo
    }

    /// Stores `bytes` (whose digest the caller has checked) create-only; answers the
    /// outcome and the bytes written (0 if it was there already).
    public func store(_ digest: SHA256Digest, bytes: [UInt8]) async throws -> (PutOutcome, storedBytes: Int) {
        let (encoding, stored) = try StoredEncoding.encode(bytes)
        let outcome = try await blobs.put(.asset(digest, encoding), bytes: stored, expecting: nil, createOnly: true)
        return (outcome, outcome == .created ? stored.count : 0)
    }

    /// Like `store(_:bytes:)` for an asset spooled to the file at `path` (large uploads):
    /// compressed into a second temporary file beside it when that pays.
    public func store(_ digest: SHA256Digest, file path: String, size: Int) async throws -> (PutOutcome, storedBytes: Int) {
        let compressedPath = path + ".gz"
        defer { FileSystem.remove(compressedPath) }
        let compressedSize = try await BlockingIO.run { try Self.compressFile(path, to: compressedPath) }
        let encoding: StoredEncoding = compressedSize.map { Double($0) <= Double(size) * StoredEncoding.worthwhileRatio } == true ? .gzip : .identity
        let source = encoding == .gzip ? compressedPath : path
        let outcome = try await blobs.putFile(.asset(digest, encoding), path: source, expecting: nil, createOnly: true)
        return (outcome, outcome == .created ? (encoding == .gzip ? compressedSize! : size) : 0)
    }

    /// The gzip of the file's bytes written to `destination`, or nil when the file looks
    /// compressed already.
    private static func compressFile(_ path: String, to destination: String) throws -> Int? {
        try FileDescriptor.with(path, flags: O_RDONLY) { input -> Int? in
            try FileDescriptor.with(destination, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600) { output -> Int? in
                let encoder = GzipEncoder(level: 6)
                var buffer = [UInt8](repeating: 0, count: 1 << 20)
                var written = 0
                var first = true
                while true {
                    let n = try buffer.withUnsafeMutableBytes { try input.read(into: $0, path: path) }
                    if n == 0 { break }
                    if first {
                        first = false
                        if buffer.withUnsafeBytes({ StoredEncoding.looksCompressed(UnsafeRawBufferPointer(rebasing: $0[..<n])) }) { return nil }
                    }
                    try buffer.withUnsafeBytes { all in
                        try encoder.encode(UnsafeRawBufferPointer(rebasing: all[..<n])) { written += $0.count; try output.writeAll($0, path: destination) }
                    }
                }
                try encoder.finish { written += $0.count; try output.writeAll($0, path: destination) }
                return written
            }
        }
    }

    /// Where the asset is stored, trying the likely encoding first; nil if nowhere.
    public func locate(_ digest: SHA256Digest, likely: StoredEncoding) async throws -> Located? {
        for encoding in [likely, likely == .gzip ? .identity : .gzip] {
            if let info = try await blobs.head(.asset(digest, encoding)) { return Located(encoding: encoding, info: info) }
        }
        return nil
    }

    /// The asset's own bytes (decompressed), trying the likely encoding first. Throws
    /// `.blobNotFound` if neither object exists.
    public func bytes(_ digest: SHA256Digest, likely: StoredEncoding, maxBytes: Int = 1 << 30) async throws -> [UInt8] {
        let other: StoredEncoding = likely == .gzip ? .identity : .gzip
        for encoding in [likely, other] {
            let stored: [UInt8]
            do {
                stored = try await blobs.get(.asset(digest, encoding))
            } catch let error as RRStoreError where error.code == .blobNotFound {
                continue
            }
            return try Self.decode(stored, encoding: encoding, digest: digest, maxBytes: maxBytes)
        }
        throw RRStoreError(.blobNotFound, "asset \(digest) is in neither \(BlobKey.asset(digest)) nor \(BlobKey.asset(digest, .gzip))")
    }
}

extension AssetBlobs {
    /// The asset's bytes from what is stored in `encoding`; a gzip that does not
    /// decompress is `.corruptAsset`, naming the asset.
    public static func decode(_ stored: [UInt8], encoding: StoredEncoding, digest: SHA256Digest, maxBytes: Int = 1 << 30) throws -> [UInt8] {
        guard encoding == .gzip else { return stored }
        do {
            return try GzipDecoder.decompress(stored, maxOutputBytes: maxBytes)
        } catch let error as RRStoreError {
            throw RRStoreError(.corruptAsset, "the stored gzip of asset \(digest) does not decompress: \(error.message)")
        }
    }
}

extension BlobKey {
    /// The object holding an asset's bytes as they are (`identity`) or as gzip.
    public static func asset(_ digest: SHA256Digest, _ encoding: StoredEncoding) -> BlobKey {
        encoding == .identity ? asset(digest) : asset(digest, suffix: ".gz")
    }
}
