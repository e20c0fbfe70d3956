/// Standard base64 (RFC 4648 §4, with padding), written for the rewriter's hot path:
/// table-driven, straight into caller-owned buffers, no Foundation round trips.
public enum Base64 {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Decode tables pre-shifted for each of the four positions of a quantum, so that one
    /// quantum decodes with four loads and three ORs. An invalid byte sets bit 31.
    static let decodeTables: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0x8000_0000, count: 256), count: 4)
        for (value, char) in alphabet.enumerated() {
            let v = UInt32(value)
            tables[0][Int(char)] = v << 18
            tables[1][Int(char)] = v << 12
            tables[2][Int(char)] = v << 6
            tables[3][Int(char)] = v
        }
        return tables
    }()
    static let flatDecodeTable: [UInt32] = decodeTables.flatMap { $0 }

    @inline(__always)
    public static func isAlphabetByte(_ c: UInt8) -> Bool {
        flatDecodeTable[Int(c) &+ 768] & 0x8000_0000 == 0
    }

    public static func encodedCount(_ byteCount: Int) -> Int { (byteCount + 2) / 3 * 4 }

    /// Appends the base64 text of `data` to `out`.
    public static func encode(_ data: UnsafeRawBufferPointer, appendingTo out: inout [UInt8]) {
        let count = encodedCount(data.count)
        guard count > 0 else { return }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: count))
        out.withUnsafeMutableBytes { buffer in
            encode(data, into: UnsafeMutableRawBufferPointer(rebasing: buffer[start...]))
        }
    }

    public static func encode(_ data: [UInt8]) -> String {
        var out = [UInt8]()
        data.withUnsafeBytes { encode($0, appendingTo: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes the base64 text of `data` to `out`, which holds at least `encodedCount(data.count)` bytes.
    public static func encode(_ data: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        alphabet.withUnsafeBufferPointer { table in
            let n = data.count
            var i = 0, o = 0
            while i + 3 <= n {
                let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
                out[o] = table[Int(v >> 18)]
                out[o + 1] = table[Int((v >> 12) & 63)]
                out[o + 2] = table[Int((v >> 6) & 63)]
                out[o + 3] = table[Int(v & 63)]
                i += 3; o += 4
            }
            let rest = n - i
            if rest > 0 {
                let v = UInt32(data[i]) << 16 | (rest == 2 ? UInt32(data[i + 1]) << 8 : 0)
                out[o] = table[Int(v >> 18)]
                out[o + 1] = table[Int((v >> 12) & 63)]
                out[o + 2] = rest == 2 ? table[Int((v >> 6) & 63)] : UInt8(ascii: "=")
                out[o + 3] = UInt8(ascii: "=")
            }
        }
    }

    /// Decodes `text` if, and only if, it is *canonical* base64: length a multiple of 4,
    /// only alphabet bytes, padding only at the end and only as much as needed, and zero
    /// in the bits the padding leaves unused. Exactly then `encode(decode(text)) == text`,
    /// which is what lets the rewriter store decoded bytes and still give back the original
    /// text byte for byte. Returns the decoded count, or nil for anything else.
    ///
    /// `out` must hold at least `text.count / 4 * 3` bytes.
    public static func decodeCanonical(_ text: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int? {
        let n = text.count
        guard n % 4 == 0 else { return nil }
        if n == 0 { return 0 }
        guard let src = text.baseAddress?.assumingMemoryBound(to: UInt8.self),
              let dst = out.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        precondition(out.count >= n / 4 * 3)
        let padding = src[n - 1] == UInt8(ascii: "=") ? (src[n - 2] == UInt8(ascii: "=") ? 2 : 1) : 0
        let fullQuanta = n / 4 - (padding > 0 ? 1 : 0)
        return flatDecodeTable.withUnsafeBufferPointer { t -> Int? in
            let t = t.baseAddress!
            var invalid: UInt32 = 0
            var i = 0, o = 0
            // Two quanta at a time; the check for invalid bytes is folded into one OR.
            let pairs = fullQuanta / 2
            for _ in 0..<pairs {
                let a = t[Int(src[i])] | t[256 + Int(src[i + 1])] | t[512 + Int(src[i + 2])] | t[768 + Int(src[i + 3])]
                let b = t[Int(src[i + 4])] | t[256 + Int(src[i + 5])] | t[512 + Int(src[i + 6])] | t[768 + Int(src[i + 7])]
                invalid |= a | b
                dst[o] = UInt8(truncatingIfNeeded: a >> 16)
                dst[o + 1] = UInt8(truncatingIfNeeded: a >> 8)
                dst[o + 2] = UInt8(truncatingIfNeeded: a)
                dst[o + 3] = UInt8(truncatingIfNeeded: b >> 16)
                dst[o + 4] = UInt8(truncatingIfNeeded: b >> 8)
                dst[o + 5] = UInt8(truncatingIfNeeded: b)
                i += 8; o += 6
            }
            if fullQuanta % 2 == 1 {
                let a = t[Int(src[i])] | t[256 + Int(src[i + 1])] | t[512 + Int(src[i + 2])] | t[768 + Int(src[i + 3])]
                invalid |= a
                dst[o] = UInt8(truncatingIfNeeded: a >> 16)
                dst[o + 1] = UInt8(truncatingIfNeeded: a >> 8)
                dst[o + 2] = UInt8(truncatingIfNeeded: a)
                i += 4; o += 3
            }
            guard invalid & 0x8000_0000 == 0 else { return nil }
            switch padding {
            case 1:
                let a = t[Int(src[i])] | t[256 + Int(src[i + 1])] | t[512 + Int(src[i + 2])]
                guard a & 0x8000_0000 == 0, a & 0xFF == 0 else { return nil }
                dst[o] = UInt8(truncatingIfNeeded: a >> 16)
                dst[o + 1] = UInt8(truncatingIfNeeded: a >> 8)
                o += 2
            case 2:
                let a = t[Int(src[i])] | t[256 + Int(src[i + 1])]
                guard a & 0x8000_0000 == 0, a & 0xFFFF == 0 else { return nil }
                dst[o] = UInt8(truncatingIfNeeded: a >> 16)
                o += 1
            default:
                break
            }
            return o
        }
    }

    /// Convenience for tests and cold paths.
    public static func decodeCanonical(_ text: String) -> [UInt8]? {
        var bytes = Array(text.utf8)
        var out = [UInt8](repeating: 0, count: bytes.count / 4 * 3)
        let count = bytes.withUnsafeMutableBytes { t in
            out.withUnsafeMutableBytes { decodeCanonical(UnsafeRawBufferPointer(t), into: $0) }
        }
        guard let count else { return nil }
        out.removeLast(out.count - count)
        return out
    }
}
