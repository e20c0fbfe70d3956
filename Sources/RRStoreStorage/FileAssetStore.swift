#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import RRStoreCore
import RRStoreIO

/// A content-addressed directory of assets: `<root>/sha256/ab/cd/<hex>`, each file
/// written once and checked against its digest when read.
///
/// Writes are durable in batches: `put` writes a temporary file under `<root>/.incoming`;
/// `commit()` (called every `batchSize` puts, and by the owner before it reports success)
/// syncs the filesystem once, renames every staged file into place and syncs again. So a
/// file under its final name always holds its whole content, even after a crash, at the
/// cost of two syncs per batch instead of two per file. Safe for several processes at once:
/// a racing writer of the same digest writes the same bytes, and rename makes either win
/// whole.
public final class FileAssetStore: AssetSource {
    public let root: String
    /// Whether reads re-hash the bytes (and throw `.corruptAsset` on a mismatch).
    public let verifyReads: Bool
    /// Staged files are committed once this many are waiting.
    public let batchSize: Int
    private let incoming: String
    private var known = Set<SHA256Digest>()
    private var staged: [SHA256Digest: String] = [:]
    private var createdDirectories = Set<String>()
    /// Rehydrating a recording asks for the same snapshot trees and stylesheets again and again.
    private var cache = ByteBoundedCache<SHA256Digest, [UInt8]>(capacityBytes: 16 << 20)

    public init(root: String, verifyReads: Bool = true, batchSize: Int = 1024) throws {
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
        self.verifyReads = verifyReads
        self.batchSize = max(batchSize, 1)
        incoming = "\(root)/.incoming"
        try FileSystem.makeDirectories(incoming)
    }

    deinit {
        // Uncommitted files were never acknowledged: drop them.
        for temporary in staged.values { FileSystem.remove(temporary) }
    }

    public static func relativePath(of digest: SHA256Digest) -> String {
        let hex = digest.hex
        return "sha256/\(hex.prefix(2))/\(hex.dropFirst(2).prefix(2))/\(hex)"
    }

    public func path(of digest: SHA256Digest) -> String {
        "\(root)/\(FileAssetStore.relativePath(of: digest))"
    }

    /// Whether the asset is stored or staged (remembered once seen: repeats cost no `stat`).
    public func contains(_ digest: SHA256Digest) -> Bool {
        if known.contains(digest) { return true }
        if FileSystem.exists(path(of: digest)) {
            known.insert(digest)
            return true
        }
        return false
    }

    /// Stages `bytes` under `digest` unless already there; returns true if it was new. The
    /// caller vouches for the digest (the rewriter just computed it). Durable after `commit()`.
    @discardableResult
    public func put(_ digest: SHA256Digest, bytes: UnsafeRawBufferPointer) throws -> Bool {
        if contains(digest) { return false }
        let temporary = "\(incoming)/\(digest.hex).\(UInt64.random(in: 0...UInt64.max))"
        do {
            try FileDescriptor.with(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o644) { fd in
                try fd.writeAll(bytes, path: temporary)
            }
        } catch {
            FileSystem.remove(temporary)
            throw error
        }
        staged[digest] = temporary
        known.insert(digest)
        if staged.count >= batchSize { try commit() }
        return true
    }

    /// Makes every staged asset durable under its final name.
    public func commit() throws {
        guard !staged.isEmpty else { return }
        try FileSystem.syncFileSystem(containing: root)
        for (digest, temporary) in staged {
            let path = path(of: digest)
            let directory = FileSystem.directoryName(path)
            if !createdDirectories.contains(directory) {
                try FileSystem.makeDirectories(directory)
                createdDirectories.insert(directory)
            }
            try FileSystem.rename(temporary, to: path)
            staged[digest] = nil
        }
        try FileSystem.syncFileSystem(containing: root)
    }

    public func get(_ digest: SHA256Digest) throws -> [UInt8] {
        if let cached = cache[digest] { return cached }
        let path = staged[digest] ?? path(of: digest)
        guard FileSystem.exists(path) else {
            throw RRStoreError(.missingAsset, "asset \(digest) is not in \(root) (was the recording rewritten with another --assets directory?)")
        }
        let bytes = try FileSystem.readAll(path)
        if verifyReads && SHA256Digest.hash(bytes) != digest {
            throw RRStoreError(.corruptAsset, "asset file \(path) does not hash to its name; the store is damaged: delete the file and rewrite the recording to restore it")
        }
        cache.insert(bytes, for: digest, cost: bytes.count)
        return bytes
    }

    public func bytes(for reference: AssetReference) throws -> [UInt8] {
        try get(reference.digest)
    }
}
