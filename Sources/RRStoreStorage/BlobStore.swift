import RRStoreCore

/// Where bytes live: assets, screenshots and event chunks, by key. Implementations: the
/// filesystem (embedded default), S3, and an in-memory twin for unit tests. All of them
/// pass one conformance suite (`Tests/RRStoreStorageTests/BlobStoreConformance.swift`).
public protocol BlobStore: Sendable {
    /// Stores `bytes` under `key`. With an expectation, the digest and size are checked
    /// first and a mismatch stores nothing. With `createOnly`, an existing blob is left as
    /// it is and the answer is `.alreadyExisted` (content-addressed keys never change).
    func put(_ key: BlobKey, bytes: [UInt8], expecting: BlobExpectation?, createOnly: Bool) async throws -> PutOutcome

    /// Like `put(_:bytes:...)`, streaming the body from the file at `path` (large bodies:
    /// S3 uses a multipart upload).
    func putFile(_ key: BlobKey, path: String, expecting: BlobExpectation?, createOnly: Bool) async throws -> PutOutcome

    /// The blob's bytes, or those in `range` (clamped to the blob's end). Throws
    /// `.blobNotFound`, or `.invalidRange` when the range starts past the end.
    func get(_ key: BlobKey, range: Range<Int>?) async throws -> [UInt8]

    /// Streams the blob into the file at `path` (created or truncated).
    func download(_ key: BlobKey, to path: String) async throws -> BlobInfo

    /// Size and ETag, or nil if there is no such blob.
    func head(_ key: BlobKey) async throws -> BlobInfo?

    /// Deletes the blob; deleting a missing blob is not an error.
    func delete(_ key: BlobKey) async throws

    /// Keys that start with `prefix`, in ascending byte order, after the continuation
    /// `after` (nil for the first page), at most `limit` of them.
    func list(prefix: String, after: String?, limit: Int) async throws -> BlobPage
}

extension BlobStore {
    public func put(_ key: BlobKey, bytes: [UInt8], expecting: BlobExpectation? = nil) async throws -> PutOutcome {
        try await put(key, bytes: bytes, expecting: expecting, createOnly: false)
    }

    public func get(_ key: BlobKey) async throws -> [UInt8] {
        try await get(key, range: nil)
    }

    /// Every key under `prefix`, page by page.
    public func listAll(prefix: String, pageSize: Int = 1000) async throws -> [BlobInfo] {
        var all: [BlobInfo] = []
        var after: String?
        repeat {
            let page = try await list(prefix: prefix, after: after, limit: pageSize)
            all += page.blobs
            after = page.next
        } while after != nil
        return all
    }
}

/// A blob key: a relative path of safe bytes. One layout for every implementation:
///
///     assets/sha256/ab/cd/<hex>                                    assets and screenshots
///     rrweb/recordings/userId=<u>/sessionId=<id>/<first>-<count>.jsonl.gz    event chunks
public struct BlobKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// Letters, digits and `!-_.*'()=/`; no empty segment and none that starts with `.`
    /// (the filesystem store keeps its temporary files there); at most 1024 bytes.
    public init(_ rawValue: String) throws {
        let bytes = Array(rawValue.utf8)
        guard !bytes.isEmpty, bytes.count <= 1024 else {
            throw RRStoreError(.invalidKey, "a blob key needs 1 to 1024 bytes, not \(bytes.count)")
        }
        for byte in bytes where !BlobKey.allowed[Int(byte)] {
            throw RRStoreError(.invalidKey, "blob key '\(rawValue.prefix(100))' holds '\(Character(Unicode.Scalar(byte)))'; keys use letters, digits and !-_.*'()=/")
        }
        for segment in rawValue.split(separator: "/", omittingEmptySubsequences: false) where segment.isEmpty || segment.first == "." {
            throw RRStoreError(.invalidKey, "blob key '\(rawValue.prefix(100))' has an empty segment or one that starts with '.'")
        }
        guard !BlobKey.isStageNamespace(rawValue) else {
            throw RRStoreError(.invalidKey, "blob key '\(rawValue.prefix(100))' is in stages/, where the named release stages keep their blobs")
        }
        self.rawValue = rawValue
    }

    /// `stages/…` holds the named stages' blobs below the default stage's S3 prefix
    /// (`StorageConfiguration.stageS3Prefix`): no key of a store may start there.
    static func isStageNamespace(_ key: String) -> Bool { key.hasPrefix("stages/") }

    static let allowed: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!-_.*'()=:/".utf8 { table[Int(c)] = true }
        return table
    }()

    public var description: String { rawValue }
    public static func < (a: BlobKey, b: BlobKey) -> Bool { Array(a.rawValue.utf8).lexicographicallyPrecedes(Array(b.rawValue.utf8)) }

    /// A key made of parts known to be valid (hex digits, fixed names), not checked again:
    /// asset keys are made once per asset on hot paths (a warm `rrstore rewrite` looks up
    /// thousands).
    private init(valid rawValue: String) { self.rawValue = rawValue }

    public static func asset(_ digest: SHA256Digest) -> BlobKey {
        asset(digest, suffix: "")
    }

    /// `asset(digest)` with `suffix` appended (letters and dots only: see the callers).
    static func asset(_ digest: SHA256Digest, suffix: StaticString) -> BlobKey {
        var key = "assets/sha256/"
        key.reserveCapacity(14 + 6 + 64 + 4)
        let hex = digest.hex
        key += hex.prefix(2)
        key += "/"
        key += hex.dropFirst(2).prefix(2)
        key += "/"
        key += hex
        key += "\(suffix)"
        return BlobKey(valid: key)
    }

    /// The chunk holding events `firstEvent ..< firstEvent + count` of a recording. The key
    /// names both numbers, so one key always holds the same bytes: two instances flushing
    /// the same events write identical objects and can never overwrite a committed chunk
    /// with a different one. `tenant` and `recording` must be valid ids.
    public static func eventChunk(tenant: String, recording: String, firstEvent: Int, count: Int,
                                  encoding: ChunkEncoding = .gzip) throws -> BlobKey {
        func padded(_ value: Int, _ width: Int) -> String {
            String(repeating: "0", count: max(0, width - String(value).count)) + String(value)
        }
        return try BlobKey("rrweb/recordings/userId=\(tenant)/sessionId=\(recording)/\(padded(firstEvent, 12))-\(padded(count, 6))\(encoding.suffix)")
    }
}

/// What a put must match: the SHA-256 and/or size of the body.
public struct BlobExpectation: Sendable, Equatable {
    public var digest: SHA256Digest?
    public var size: Int?
    public init(digest: SHA256Digest? = nil, size: Int? = nil) {
        self.digest = digest
        self.size = size
    }

    func check(digest actual: SHA256Digest, size actualSize: Int, key: BlobKey) throws {
        if let size, size != actualSize {
            throw RRStoreError(.sizeMismatch, "the body for \(key) has \(actualSize) bytes, not the \(size) announced; nothing was stored")
        }
        if let digest, digest != actual {
            throw RRStoreError(.digestMismatch, "the body for \(key) hashes to \(actual), not \(digest); nothing was stored")
        }
    }
}

public enum PutOutcome: Sendable, Equatable {
    case created
    /// `createOnly` found the key taken; nothing was written.
    case alreadyExisted
}

public struct BlobInfo: Sendable, Equatable {
    public var key: BlobKey
    public var size: Int
    public var etag: String?
    /// When the object was last written, in milliseconds since 1970, where the store says
    /// (listings): how the collector tells an orphan from an object about to be indexed.
    public var lastModified: Int64?
    public init(key: BlobKey, size: Int, etag: String? = nil, lastModified: Int64? = nil) {
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
    }
}

public struct BlobPage: Sendable, Equatable {
    public var blobs: [BlobInfo]
    /// Pass as `after` for the next page; nil on the last page.
    public var next: String?
    public init(blobs: [BlobInfo], next: String?) {
        self.blobs = blobs
        self.next = next
    }
}

extension RRStoreError.Code {
    public static let invalidKey = RRStoreError.Code("invalid_key")
    public static let blobNotFound = RRStoreError.Code("blob_not_found")
    public static let invalidRange = RRStoreError.Code("invalid_range")
    public static let digestMismatch = RRStoreError.Code("digest_mismatch")
    public static let sizeMismatch = RRStoreError.Code("size_mismatch")
    public static let storageRejected = RRStoreError.Code("storage_rejected")
}

extension RRStoreError {
    static func notFound(_ key: BlobKey) -> RRStoreError {
        RRStoreError(.blobNotFound, "no blob at \(key)")
    }

    static func invalidRange(_ range: Range<Int>, size: Int, key: BlobKey) -> RRStoreError {
        RRStoreError(.invalidRange, "range \(range.lowerBound)..<\(range.upperBound) starts past the end of \(key) (\(size) bytes)")
    }
}

/// Clamps a requested range to a blob of `size` bytes.
func clamp(_ range: Range<Int>?, size: Int, key: BlobKey) throws -> Range<Int> {
    guard let range else { return 0..<size }
    guard range.lowerBound >= 0, range.lowerBound < size || (size == 0 && range.lowerBound == 0) else {
        throw RRStoreError.invalidRange(range, size: size, key: key)
    }
    return range.lowerBound..<min(range.upperBound, size)
}

/// How an event chunk is compressed, told by its key's suffix: gzip (`.jsonl.gz`, every
/// store at format 1) or zstd (`.jsonl.zst`, from format 2 on: older binaries cannot read it).
public enum ChunkEncoding: Sendable, Equatable {
    case gzip, zstd

    /// zstd at this level writes a chunk in about a third of gzip -9's time, 3% larger
    /// (-6: 7% smaller but slower than gzip -9, and ingest must not slow down; the size
    /// gains are in packs). benchmarks/results/chunk-compression.md.
    public static let zstdLevel: Int32 = 3
    /// What a store at `format` may hold.
    public static func forStore(format: Int) -> ChunkEncoding { format >= 2 ? .zstd : .gzip }

    public init(key: String) { self = key.hasSuffix(".zst") ? .zstd : .gzip }

    var suffix: String { self == .zstd ? ".jsonl.zst" : ".jsonl.gz" }

    public func compress(_ ndjson: [UInt8]) throws -> [UInt8] {
        self == .zstd ? try Zstd.compress(ndjson, level: Self.zstdLevel) : try GzipEncoder.compress(ndjson, level: 9)
    }

    /// The chunk's NDJSON, at most `maxBytes` of it (its manifest's byte count).
    public func decompress(_ stored: [UInt8], maxBytes: Int) throws -> [UInt8] {
        self == .zstd ? try Zstd.decompress(stored, maxOutputBytes: maxBytes) : try GzipDecoder.decompress(stored, maxOutputBytes: maxBytes)
    }
}
