import CCrypto

/// HMAC-SHA256 through OpenSSL.
public enum HMACSHA256 {
    public static func authenticate(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBytes { o in
                    _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count),
                             m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count,
                             o.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
                }
            }
        }
        return out
    }

    public static func authenticate(_ message: String, key: [UInt8]) -> [UInt8] {
        authenticate(Array(message.utf8), key: key)
    }
}

/// Equal contents, compared in time that depends only on the lengths (for MACs).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for i in 0..<a.count { difference |= a[i] ^ b[i] }
    return difference == 0
}

extension Sequence where Element == UInt8 {
    /// Lowercase hex.
    public var hexString: String {
        var out = [UInt8]()
        for byte in self {
            out.append(HexDigits.lower[Int(byte >> 4)])
            out.append(HexDigits.lower[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
