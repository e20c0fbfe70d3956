import RRStoreCore

/// A content-addressed directory of assets: `<root>/sha256/ab/cd/<hex>`, each file
/// written once, atomically and durably, and checked against its digest when read.
///
/// Used by the offline CLI (`rewrite --assets DIR`, `rehydrate --assets DIR`). Safe for
/// several processes at once: a racing writer of the same digest writes the same bytes,
/// and rename makes either win whole.
public final class FileAssetStore: AssetSource {
    public let root: String
    /// Whether reads re-hash the bytes (and throw `.corruptAsset` on a mismatch).
    public let verifyReads: Bool
    private var known = Set<SHA256Digest>()
    private var createdDirectories = Set<String>()
    private var cache = AssetCache(capacityBytes: 16 << 20)

    public init(root: String, verifyReads: Bool = true) throws {
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
        self.verifyReads = verifyReads
        try FileSystem.makeDirectories(root)
    }

    public static func relativePath(of digest: SHA256Digest) -> String {
        let hex = digest.hex
        return "sha256/\(hex.prefix(2))/\(hex.dropFirst(2).prefix(2))/\(hex)"
    }

    public func path(of digest: SHA256Digest) -> String {
        "\(root)/\(FileAssetStore.relativePath(of: digest))"
    }

    /// Whether the asset is stored (remembered once seen, so repeats cost no `stat`).
    public func contains(_ digest: SHA256Digest) -> Bool {
        if known.contains(digest) { return true }
        if FileSystem.exists(path(of: digest)) {
            known.insert(digest)
            return true
        }
        return false
    }

    /// Stores `bytes` under `digest` unless already there; returns true if it was new.
    /// The caller vouches for the digest (the rewriter just computed it).
    @discardableResult
    public func put(_ digest: SHA256Digest, bytes: UnsafeRawBufferPointer) throws -> Bool {
        if contains(digest) { return false }
        let path = path(of: digest)
        let directory = FileSystem.directoryName(path)
        if !createdDirectories.contains(directory) {
            try FileSystem.makeDirectories(directory)
            createdDirectories.insert(directory)
        }
        try FileSystem.writeAtomically(bytes, to: path)
        known.insert(digest)
        return true
    }

    public func get(_ digest: SHA256Digest) throws -> [UInt8] {
        if let cached = cache[digest] { return cached }
        let path = path(of: digest)
        guard FileSystem.exists(path) else {
            throw RRStoreError(.missingAsset, "asset \(digest) is not in \(root) (was the recording rewritten with another --assets directory?)")
        }
        let bytes = try FileSystem.readAll(path)
        if verifyReads && SHA256Digest.hash(bytes) != digest {
            throw RRStoreError(.corruptAsset, "asset file \(path) does not hash to its name; the store is damaged: delete the file and rewrite the recording to restore it")
        }
        cache[digest] = bytes
        return bytes
    }

    public func bytes(for reference: AssetReference) throws -> [UInt8] {
        try get(reference.digest)
    }
}

/// A small least-recently-inserted cache bounded by bytes: rehydrating a recording asks
/// for the same snapshot trees and stylesheets again and again.
struct AssetCache {
    let capacityBytes: Int
    private var entries: [SHA256Digest: [UInt8]] = [:]
    private var order: [SHA256Digest] = []
    private var head = 0
    private var size = 0

    init(capacityBytes: Int) { self.capacityBytes = capacityBytes }

    subscript(digest: SHA256Digest) -> [UInt8]? {
        get { entries[digest] }
        set {
            guard let bytes = newValue, entries[digest] == nil, bytes.count <= capacityBytes / 4 else { return }
            entries[digest] = bytes
            order.append(digest)
            size += bytes.count
            while size > capacityBytes, head < order.count {
                if let evicted = entries.removeValue(forKey: order[head]) { size -= evicted.count }
                head += 1
            }
            if head > 1024 && head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
        }
    }
}
