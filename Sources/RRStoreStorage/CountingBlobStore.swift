import RRStoreCore
import Synchronization

/// Counts the requests made to another blob store: what S3 would bill for (benchmarks).
public final class CountingBlobStore: BlobStore {
    public struct Counts: Sendable, Equatable {
        public var puts = 0
        public var gets = 0
        public var heads = 0
        public var lists = 0
        public var deletes = 0
        public var bytesPut = 0
    }

    public let inner: any BlobStore
    private let tally = Mutex(Counts())
    public var counts: Counts { tally.withLock { $0 } }

    public init(_ inner: any BlobStore) { self.inner = inner }

    public func put(_ key: BlobKey, bytes: [UInt8], expecting: BlobExpectation?, createOnly: Bool) async throws -> PutOutcome {
        tally.withLock { $0.puts += 1; $0.bytesPut += bytes.count }
        return try await inner.put(key, bytes: bytes, expecting: expecting, createOnly: createOnly)
    }

    public func putFile(_ key: BlobKey, path: String, expecting: BlobExpectation?, createOnly: Bool) async throws -> PutOutcome {
        tally.withLock { $0.puts += 1 }
        return try await inner.putFile(key, path: path, expecting: expecting, createOnly: createOnly)
    }

    public func get(_ key: BlobKey, range: Range<Int>?) async throws -> [UInt8] {
        tally.withLock { $0.gets += 1 }
        return try await inner.get(key, range: range)
    }

    public func download(_ key: BlobKey, to path: String) async throws -> BlobInfo {
        tally.withLock { $0.gets += 1 }
        return try await inner.download(key, to: path)
    }

    public func head(_ key: BlobKey) async throws -> BlobInfo? {
        tally.withLock { $0.heads += 1 }
        return try await inner.head(key)
    }

    public func delete(_ key: BlobKey) async throws {
        tally.withLock { $0.deletes += 1 }
        try await inner.delete(key)
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> BlobPage {
        tally.withLock { $0.lists += 1 }
        return try await inner.list(prefix: prefix, after: after, limit: limit)
    }
}
