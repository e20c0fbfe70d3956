/// Values the rewriter extracted recently, kept with their bytes so that a value seen again
/// — the same page snapshotted at each checkout, the same image on every page — is named
/// without decoding or hashing it again.
///
/// A lookup compares the candidate's bytes in full with the remembered ones (`memcmp`), so
/// a hit is exact: equal bytes have equal digests. The key only picks the candidate. Bounded
/// by bytes, oldest out first.
struct RecentAssets {
    enum Domain: UInt8 { case string, tree }

    struct Key: Hashable {
        var length: Int
        var fingerprint: UInt64
    }

    struct Entry {
        /// The value as it stands in the input (string contents, or rewritten tree bytes).
        var raw: [UInt8]
        /// What is stored, when it differs from `raw` (decoded base64, unescaped text).
        var stored: [UInt8]?
        var reference: AssetReference
        var cost: Int { raw.count + (stored?.count ?? 0) }
    }

    private var entries: ByteBoundedCache<Key, Entry>
    var capacityBytes: Int { entries.capacityBytes }

    init(capacityBytes: Int) { entries = ByteBoundedCache(capacityBytes: capacityBytes) }

    /// Samples the length and a few words; collisions only cost a failed comparison.
    static func key(_ domain: Domain, _ bytes: UnsafeRawBufferPointer) -> Key {
        let n = bytes.count
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &* (UInt64(n) &+ UInt64(domain.rawValue) &+ 1)
        if n >= 8, let base = bytes.baseAddress {
            for offset in [0, n / 4, n / 2, (3 * n) / 4, n - 8] {
                let word = base.loadUnaligned(fromByteOffset: min(offset, n - 8), as: UInt64.self)
                h = (h ^ word) &* 0xBF58_476D_1CE4_E5B9
                h ^= h >> 31
            }
        } else {
            for byte in bytes { h = (h ^ UInt64(byte)) &* 0x94D0_49BB_1331_11EB }
        }
        return Key(length: n, fingerprint: h)
    }

    /// The remembered reference and stored bytes for exactly these bytes, if any.
    func lookup(_ domain: Domain, _ bytes: UnsafeRawBufferPointer) -> Entry? {
        guard capacityBytes > 0, let entry = entries[Self.key(domain, bytes)] else { return nil }
        let equal = entry.raw.withUnsafeBytes { raw in
            raw.count == bytes.count && (raw.count == 0 || memcmp(raw.baseAddress!, bytes.baseAddress!, raw.count) == 0)
        }
        return equal ? entry : nil
    }

    mutating func insert(_ domain: Domain, raw: [UInt8], stored: [UInt8]?, reference: AssetReference) {
        guard raw.count + (stored?.count ?? 0) <= capacityBytes / 4 else { return }
        let entry = Entry(raw: raw, stored: stored, reference: reference)
        let key = raw.withUnsafeBytes { Self.key(domain, $0) }
        entries.insert(entry, for: key, cost: entry.cost)
    }
}

#if canImport(Glibc)
import func Glibc.memcmp
#elseif canImport(Musl)
import func Musl.memcmp
#elseif canImport(Darwin)
import func Darwin.memcmp
#endif
