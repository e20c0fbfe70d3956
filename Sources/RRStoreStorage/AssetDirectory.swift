import Foundation
import RRStoreCore

/// The offline CLI's asset directory (`rrstore rewrite --assets DIR`, `rehydrate`): the
/// service's asset layout and encoding in a filesystem blob store with batched
/// durability, used synchronously by the CLI's streaming loops. With `packs`, small assets
/// go into packs as the service's packer writes them (`PackBuilder`, `DIR/packs/<id>`,
/// self-describing through their trailers): a first rewrite writes a few files instead of
/// one durable file per asset. Without, each asset is one object
/// (`DIR/assets/sha256/ab/cd/<hex>` or `<hex>.gz`), as the service keeps large ones.
///
/// A server's directory holds most small assets in packs (`DIR/packs/<id>`, store format 3):
/// those are found through the packs' own trailers, so `rehydrate` reads them without the
/// server's metadata store (assets still staged there, not yet packed, are not seen: a
/// server packs everything when it shuts down gracefully).
///
/// `put` is durable after `commit()`; reads re-hash what they decompressed.
public final class AssetDirectory: AssetSource {
    public let blobs: FileBlobStore
    private var known = Set<SHA256Digest>()
    /// Rehydrating a recording asks for the same snapshot trees and stylesheets again and again.
    private var cache = ByteBoundedCache<SHA256Digest, [UInt8]>(capacityBytes: 16 << 20)

    /// The gzip level of what is compressed at rest. The service's 9 takes about three
    /// times as long as the rest of a first rewrite of the corpus (benchmarks/results/
    /// rewrite-throughput.md); 1 is cheap and still about as small as the service's for
    /// snapshot JSON, so a cold rewrite stays near its warm speed.
    public let compressionLevel: Int32

    /// How small assets are packed; nil keeps every asset one object.
    public let packs: PackPolicy?
    /// The pack being filled, written when it is full and at `commit()`.
    private var pending: PackBuilder?

    /// The CLI's packing: blocks of 1 MiB at zstd -1, images kept as they are, packs of
    /// 8 MiB, so a first rewrite runs near its warm speed and holds at most a pack in memory
    /// (benchmarks/results/rewrite-paired.md).
    public static let cliPacks: PackPolicy = {
        var policy = PackPolicy()
        policy.blockBytes = 1 << 20
        policy.packBytes = 8 << 20
        policy.level = 1
        policy.incompressibleLevel = 0
        return policy
    }()

    public init(root: String, batchSize: Int = 1024, compressionLevel: Int32 = 1, packs: PackPolicy? = nil) throws {
        blobs = try FileBlobStore(root: root, durability: .batched(max(batchSize, 1)))
        self.compressionLevel = compressionLevel
        self.packs = packs
    }

    public var root: String { blobs.root }

    /// Whether the asset is stored or waiting (remembered once seen: repeats cost no `stat`),
    /// looking under the likely encoding first.
    public func contains(_ digest: SHA256Digest, likely: @autoclosure () -> StoredEncoding = .identity) throws -> Bool {
        if known.contains(digest) { return true }
        if packs != nil, try packed()[digest] != nil {
            known.insert(digest)
            return true
        }
        let likely = likely()
        for encoding in [likely, likely == .gzip ? .identity : .gzip] where try blobs.info(.asset(digest, encoding)) != nil {
            known.insert(digest)
            return true
        }
        if try packed()[digest] != nil {
            known.insert(digest)
            return true
        }
        return false
    }

    /// Every packed asset's entry, from the trailers of `DIR/packs/*` (read once).
    private var packEntries: [SHA256Digest: PackEntry]?
    /// Packs whose trailers could not be read.
    private var unreadablePacks: [String] = []

    private func packed() throws -> [SHA256Digest: PackEntry] {
        if let packEntries { return packEntries }
        var entries: [SHA256Digest: PackEntry] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root + "/packs")) ?? []
        for name in names.sorted() where !name.hasPrefix(".") {
            do {
                let key = try BlobKey.pack(name)
                guard let size = try blobs.info(key)?.size, size >= 8 else { continue }
                let length = try PackTrailer.trailerLength(lastEight: try blobs.read(key, range: (size - 8)..<size), packSize: size, pack: name)
                let trailer = try blobs.read(key, range: (size - 8 - length)..<(size - 8))
                for entry in try PackTrailer.entries(trailer: trailer, packSize: size, pack: name) where entries[entry.digest] == nil {
                    entries[entry.digest] = entry
                }
            } catch let error as RRStoreError where error.code == .corruptPack || error.code == .invalidKey {
                // The others still serve; what only this one held is reported missing, naming it.
                unreadablePacks.append(name)
            }
        }
        packEntries = entries
        return entries
    }

    /// A packed asset's bytes: its block read and decoded, the asset sliced out and checked.
    private func readPacked(_ entry: PackEntry) throws -> [UInt8] {
        let key = try BlobKey.pack(entry.pack)
        let stored = try blobs.read(key, range: entry.blockOffset..<(entry.blockOffset + entry.blockLength))
        let block: [UInt8]
        do {
            block = entry.blockEncoding == .zstd ? try Zstd.decompress(stored, maxOutputBytes: PackBlockCache.maxBlockBytes) : stored
        } catch let error as RRStoreError {
            throw RRStoreError(.corruptAsset, "pack \(root)/\(key) is damaged: its block at \(entry.blockOffset) does not decompress (\(error.message))")
        }
        guard entry.offset <= block.count, entry.length <= block.count - entry.offset else {
            throw RRStoreError(.corruptAsset, "pack \(root)/\(key) is damaged: its block at \(entry.blockOffset) is too short for asset \(entry.digest)")
        }
        return Array(block[entry.offset..<(entry.offset + entry.length)])
    }

    /// Stores the bytes under `digest` (compressed at rest when that pays, as the service
    /// does) unless already there; returns true if it was new. The caller vouches for the
    /// digest (the rewriter just computed it). Durable after `commit()`.
    @discardableResult
    public func put(_ digest: SHA256Digest, bytes: UnsafeRawBufferPointer, likely: @autoclosure () -> StoredEncoding = .identity) throws -> Bool {
        if try contains(digest, likely: likely()) { return false }
        if let packs, bytes.count < packs.maxAssetBytes {
            if pending == nil { pending = PackBuilder(id: Packer.newID(), policy: packs) }
            try pending?.add(digest, Array(bytes), compressible: !StoredEncoding.looksCompressed(bytes))
            known.insert(digest)
            if (pending?.rawBytes ?? 0) >= packs.packBytes { try writePending() }
            return true
        }
        let (encoding, stored) = try StoredEncoding.encode(Array(bytes), level: compressionLevel)
        _ = try stored.withUnsafeBytes { try blobs.write(.asset(digest, encoding), bytes: $0, createOnly: true) }
        known.insert(digest)
        return true
    }

    public func commit() throws {
        try writePending()
        try blobs.commit()
    }

    /// Writes the pack being filled (verified first, as the service's packer does) and
    /// adds its entries to the known ones; durable with the batch it joins.
    private func writePending() throws {
        guard var builder = pending else { return }
        pending = nil
        let (bytes, entries) = try builder.finish()
        guard !entries.isEmpty else { return }
        try Packer.verify(bytes, entries: entries)
        _ = try bytes.withUnsafeBytes { try blobs.write(try BlobKey.pack(builder.id), bytes: $0, createOnly: true) }
        var all = try packed()
        for entry in entries where all[entry.digest] == nil { all[entry.digest] = entry }
        packEntries = all
    }

    /// The asset's own bytes, checked against its digest; the likely encoding is tried first.
    public func get(_ digest: SHA256Digest, likely: StoredEncoding = .identity) throws -> [UInt8] {
        if let cached = cache[digest] { return cached }
        // Read by its writer before `commit()`: the pack being filled is written first.
        if pending?.contains(digest) == true { try writePending() }
        let other: StoredEncoding = likely == .gzip ? .identity : .gzip
        for encoding in [likely, other] {
            let stored: [UInt8]
            do {
                stored = try blobs.read(.asset(digest, encoding))
            } catch let error as RRStoreError where error.code == .blobNotFound {
                continue
            }
            let bytes = try AssetBlobs.decode(stored, encoding: encoding, digest: digest)
            guard SHA256Digest.hash(bytes) == digest else {
                throw RRStoreError(.corruptAsset, "asset file \(root)/\(BlobKey.asset(digest, encoding)) does not hash to its name; the store is damaged: delete the file and rewrite the recording to restore it")
            }
            cache.insert(bytes, for: digest, cost: bytes.count)
            return bytes
        }
        if let entry = try packed()[digest] {
            let bytes = try readPacked(entry)
            guard SHA256Digest.hash(bytes) == digest else {
                throw RRStoreError(.corruptAsset, "asset \(digest) in pack \(root)/packs/\(entry.pack) does not hash to its name; the pack is damaged")
            }
            cache.insert(bytes, for: digest, cost: bytes.count)
            return bytes
        }
        let unreadable = unreadablePacks.isEmpty ? "" : "; \(unreadablePacks.count) pack(s) there have a damaged trailer, e.g. packs/\(unreadablePacks[0])"
        throw RRStoreError(.missingAsset, "asset \(digest) is not in \(root) (was the recording rewritten with another --assets directory?)\(unreadable)")
    }

    public func bytes(for reference: AssetReference) throws -> [UInt8] {
        try get(reference.digest, likely: StoredEncoding.likely(kind: reference.kind, mediaType: reference.mediaType))
    }
}
