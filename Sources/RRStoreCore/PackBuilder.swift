/// Lays out one pack object: blocks of a tenant's small assets, then a trailer that lists
/// them, so a pack describes itself without the index (for checks and recovery).
///
///     block block … block | trailer: zstd frame of "<hex> <blockOffset> <blockLength> <encoding> <offset> <length>\n"…
///                         | trailer length: 4 bytes, big-endian | "RRP1"
///
/// Compressible assets (trees, CSS, text) share blocks of about `blockBytes` raw bytes,
/// one zstd frame each: what is similar within a tenant's recent assets compresses
/// together, and reading one asset costs one ranged GET of its block and decompressing at
/// most `blockBytes` plus one asset. Images, fonts and archives are blocks of their own,
/// zstd only where it saves at least 3% (PNG mostly does not), so their bytes can be
/// served with a range of exactly themselves. A value; no I/O.
public struct PackBuilder {
    public let id: String
    public let policy: PackPolicy
    public private(set) var bytes: [UInt8] = []
    public private(set) var entries: [PackEntry] = []
    private var open: [UInt8] = []
    private var openAssets: [(digest: SHA256Digest, offset: Int, length: Int)] = []
    private var added = Set<SHA256Digest>()

    public init(id: String, policy: PackPolicy) {
        self.id = id
        self.policy = policy
    }

    /// Raw bytes added so far.
    public private(set) var rawBytes = 0

    /// Whether the asset was added (sealed in a block or still in the open one).
    public func contains(_ digest: SHA256Digest) -> Bool { added.contains(digest) }

    public mutating func add(_ digest: SHA256Digest, _ asset: [UInt8], compressible: Bool) throws {
        guard added.insert(digest).inserted else { return }
        rawBytes += asset.count
        guard compressible else {
            let frame = policy.incompressibleLevel > 0 ? try Zstd.compress(asset, level: Int32(clamping: policy.incompressibleLevel)) : asset
            if policy.incompressibleLevel > 0, Double(frame.count) <= Double(asset.count) * 0.97 {
                append(block: frame, encoding: .zstd, assets: [(digest, 0, asset.count)])
            } else {
                append(block: asset, encoding: .identity, assets: [(digest, 0, asset.count)])
            }
            return
        }
        // A block holds at most `blockBytes`, or one asset alone: what one read decodes.
        if !open.isEmpty, open.count + asset.count > policy.blockBytes { try sealOpenBlock() }
        openAssets.append((digest, open.count, asset.count))
        open += asset
        if open.count >= policy.blockBytes { try sealOpenBlock() }
    }

    private mutating func sealOpenBlock() throws {
        guard !openAssets.isEmpty else { return }
        append(block: try Zstd.compress(open, level: Int32(clamping: policy.level)), encoding: .zstd, assets: openAssets)
        open = []
        openAssets = []
    }

    private mutating func append(block: [UInt8], encoding: PackBlockEncoding, assets: [(digest: SHA256Digest, offset: Int, length: Int)]) {
        let offset = bytes.count
        bytes += block
        for asset in assets {
            entries.append(PackEntry(digest: asset.digest, pack: id, blockOffset: offset, blockLength: block.count,
                                     blockEncoding: encoding, offset: asset.offset, length: asset.length))
        }
    }

    /// The finished pack's bytes and entries.
    public mutating func finish() throws -> (bytes: [UInt8], entries: [PackEntry]) {
        try sealOpenBlock()
        var listing = ""
        for entry in entries {
            listing += "\(entry.digest.hex) \(entry.blockOffset) \(entry.blockLength) \(entry.blockEncoding.rawValue) \(entry.offset) \(entry.length)\n"
        }
        let trailer = try Zstd.compress(Array(listing.utf8), level: 3)
        bytes += trailer
        let length = UInt32(trailer.count)
        bytes += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
        bytes += PackTrailer.magic
        return (bytes, entries)
    }
}

/// Reads a pack's trailer: untrusted bytes (a damaged or foreign object), so every number
/// is checked against the pack's size and a bad trailer is `.corruptPack`, not a trap.
public enum PackTrailer {
    public static let magic = Array("RRP1".utf8)
    /// Trailers are at most this large (a pack of 16 MiB of 32-byte assets lists ~500k).
    public static let maxTrailerBytes = 64 << 20

    /// The trailer's length from the pack's last 8 bytes.
    public static func trailerLength(lastEight tail: [UInt8], packSize: Int, pack: String) throws -> Int {
        guard tail.count == 8, packSize >= 8, Array(tail[4...]) == magic else {
            throw RRStoreError(.corruptPack, "pack \(pack) does not end in an rrstore pack trailer")
        }
        let length = Int(tail[0]) << 24 | Int(tail[1]) << 16 | Int(tail[2]) << 8 | Int(tail[3])
        guard length <= packSize - 8, length <= maxTrailerBytes else {
            throw RRStoreError(.corruptPack, "pack \(pack) claims a trailer of \(length) bytes, more than it holds")
        }
        return length
    }

    /// The entries the trailer lists; each block must lie before the trailer.
    public static func entries(trailer: [UInt8], packSize: Int, pack: String) throws -> [PackEntry] {
        let text: [UInt8]
        do { text = try Zstd.decompress(trailer, maxOutputBytes: maxTrailerBytes) } catch let error as RRStoreError {
            throw RRStoreError(.corruptPack, "the trailer of pack \(pack) does not decompress: \(error.message)")
        }
        let blocksEnd = packSize - 8 - trailer.count
        var entries: [PackEntry] = []
        for line in text.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
            guard fields.count == 6, fields[0].utf8.count == 64, let digest = SHA256Digest(parsing: "sha256:" + fields[0]),
                  let blockOffset = Int(fields[1]), let blockLength = Int(fields[2]), let encoding = PackBlockEncoding(rawValue: fields[3]),
                  let offset = Int(fields[4]), let length = Int(fields[5]),
                  blockOffset >= 0, blockLength >= 0, offset >= 0, length >= 0,
                  blockOffset <= blocksEnd, blockLength <= blocksEnd - blockOffset,
                  encoding == .zstd || (offset <= blockLength && length <= blockLength - offset)
            else {
                throw RRStoreError(.corruptPack, "the trailer of pack \(pack) has a line that is not a valid entry: '\(String(decoding: line.prefix(120), as: UTF8.self))'")
            }
            entries.append(PackEntry(digest: digest, pack: pack, blockOffset: blockOffset, blockLength: blockLength,
                                     blockEncoding: encoding, offset: offset, length: length))
        }
        return entries
    }
}

/// How small assets are packed.
public struct PackPolicy: Sendable, Equatable {
    /// Assets smaller than this are staged and packed; larger ones stay one object each
    /// (served and range-read as they are).
    public var maxAssetBytes = 1 << 20
    /// Compressible assets share zstd blocks of at most this many raw bytes (or one larger
    /// asset alone): the most a read of one asset decompresses. 4 MiB by measurement
    /// (benchmarks/results/pack-context.md): the corpus's trees and stylesheets take 9%
    /// less than in 1 MiB blocks, and a read costs one ranged GET of the compressed block
    /// (~0.3 MB on the corpus) and ~4 ms of decoding.
    public var blockBytes = 4 << 20
    /// A pack holds about this many raw bytes at most.
    public var packBytes = 32 << 20
    /// zstd level of shared blocks (packing runs in the background, off the request path).
    public var level = 19
    /// zstd level tried on images and other compressed formats (PNG saves 2.4% at 19 over
    /// 3, at ~5 MB/s: affordable in the background); 0 keeps them as they are untried.
    public var incompressibleLevel = 19
    /// A tenant's staged assets are packed once this many bytes are staged…
    public var minBytes = 8 << 20
    /// … or once the oldest is this old.
    public var maxAgeSeconds = 60.0
    /// How often the packer looks for due tenants.
    public var intervalSeconds = 2.0
    public init() {}
}

extension RRStoreError.Code {
    public static let corruptPack = RRStoreError.Code("corrupt_pack")
}

/// How a pack's block is stored.
public enum PackBlockEncoding: String, Sendable {
    /// The assets' bytes as they are: an entry is read with a range of exactly its bytes.
    case identity
    /// One zstd frame of the block's assets, one after another.
    case zstd
}

/// Where a packed asset's bytes are: `length` bytes at `offset` of the decoded block that
/// takes `blockLength` bytes at `blockOffset` of the pack object `packs/<pack>`.
public struct PackEntry: Sendable, Equatable {
    public var digest: SHA256Digest
    public var pack: String
    public var blockOffset: Int
    public var blockLength: Int
    public var blockEncoding: PackBlockEncoding
    public var offset: Int
    public var length: Int

    public init(digest: SHA256Digest, pack: String, blockOffset: Int, blockLength: Int, blockEncoding: PackBlockEncoding,
                offset: Int, length: Int) {
        self.digest = digest
        self.pack = pack
        self.blockOffset = blockOffset
        self.blockLength = blockLength
        self.blockEncoding = blockEncoding
        self.offset = offset
        self.length = length
    }
}
