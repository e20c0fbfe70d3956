/// How an asset's bytes are kept at rest. Assets are named by the digest of their own
/// bytes; when gzip makes them clearly smaller (tree JSON, CSS, SVG, text), the stored
/// object holds the gzip of those bytes instead. The choice depends on the bytes alone,
/// so every writer of one asset makes the same one.
public enum StoredEncoding: String, Sendable, CaseIterable {
    case identity
    case gzip

    /// Below this size gzip's 18 bytes of framing and the extra request are not worth it.
    public static let minimumCompressedSize = 256
    /// Compressed bytes are kept only if they are at most this fraction of the original.
    public static let worthwhileRatio = 0.9

    /// The encoding and bytes to store for `bytes`. `level` trades time for bytes (the
    /// service uses 9; bulk offline writes may use less): readers decompress any level.
    public static func encode(_ bytes: [UInt8], level: Int32 = 9) throws -> (StoredEncoding, [UInt8]) {
        guard bytes.count >= minimumCompressedSize, !bytes.withUnsafeBytes(looksCompressed) else { return (.identity, bytes) }
        let compressed = try GzipEncoder.compress(bytes, level: level)
        guard Double(compressed.count) <= Double(bytes.count) * worthwhileRatio else { return (.identity, bytes) }
        return (.gzip, compressed)
    }

    /// Whether a reader should look for the gzip object first, judging by what the
    /// reference says the asset is (images and woff fonts are compressed already).
    public static func likely(kind: AssetKind?, mediaType: String?) -> StoredEncoding {
        if let mediaType {
            let type = mediaType.lowercased()
            if type.hasPrefix("image/svg") { return .gzip }
            if type.hasPrefix("image/") || type.hasPrefix("video/") || type.hasPrefix("audio/") || type.contains("woff")
                || type.contains("zip") || type.contains("octet-stream") {
                return .identity
            }
            return .gzip
        }
        return kind == .dataURI ? .identity : .gzip
    }

    /// Formats that are compressed already, by their magic bytes: gzip, zip, PNG, JPEG,
    /// GIF, WebP, WOFF/WOFF2, ISO media (MP4, AVIF, HEIC), zstd, bzip2, xz.
    public static func looksCompressed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            guard bytes.count >= offset + magic.count else { return false }
            for (i, byte) in magic.enumerated() where bytes[offset + i] != byte { return false }
            return true
        }
        return starts([0x1F, 0x8B]) || starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x89, 0x50, 0x4E, 0x47])
            || starts([0xFF, 0xD8, 0xFF]) || starts(Array("GIF8".utf8)) || (starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8))
            || starts(Array("wOFF".utf8)) || starts(Array("wOF2".utf8)) || starts(Array("ftyp".utf8), at: 4)
            || starts([0x28, 0xB5, 0x2F, 0xFD]) || starts(Array("BZh".utf8)) || starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00])
    }
}
