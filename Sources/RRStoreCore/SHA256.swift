import CCrypto

/// A SHA-256 digest. Its text form is `sha256:<64 lowercase hex>`.
public struct SHA256Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    // Four words instead of [UInt8]: no allocation, cheap hashing and comparison.
    public let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    public static let byteCount = 32
    public static let hexCount = 64
    public static let prefix = "sha256:"

    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == 32, "a SHA-256 digest has 32 bytes")
        func word(_ i: Int) -> UInt64 {
            var v: UInt64 = 0
            for j in 0..<8 { v = v << 8 | UInt64(bytes[i * 8 + j]) }
            return v
        }
        w0 = word(0); w1 = word(1); w2 = word(2); w3 = word(3)
    }

    public init<C: Collection>(bytes: C) where C.Element == UInt8 {
        let array = Array(bytes)
        self = array.withUnsafeBytes { SHA256Digest(bytes: $0) }
    }

    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32)
        for w in [w0, w1, w2, w3] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: w >> UInt64(shift))) }
        }
        return out
    }

    /// 64 lowercase hex digits.
    public var hex: String {
        String(unsafeUninitializedCapacity: 64) { buffer in
            writeHex(into: UnsafeMutableRawBufferPointer(buffer))
            return 64
        }
    }

    /// `sha256:<hex>`
    public var description: String { Self.prefix + hex }

    /// Writes the 64 hex digits to the start of `buffer`, which must hold at least 64 bytes.
    public func writeHex(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= 64)
        var i = 0
        for w in [w0, w1, w2, w3] {
            var shift: UInt64 = 60
            while true {
                buffer[i] = HexDigits.lower[Int((w >> shift) & 0xF)]
                i += 1
                if shift == 0 { break }
                shift -= 4
            }
        }
    }

    public func appendHex(to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: 64))
        out.withUnsafeMutableBytes { writeHex(into: UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
    }

    /// Parses exactly 64 lowercase hex digits. Uppercase is rejected: one digest, one spelling.
    public init?(hex: some StringProtocol) {
        var utf8 = Array(hex.utf8)
        guard let parsed = utf8.withUnsafeMutableBytes({ SHA256Digest(hexBytes: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = parsed
    }

    public init?(hexBytes: UnsafeRawBufferPointer) {
        guard hexBytes.count == 64 else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for i in 0..<64 {
            guard let nibble = HexDigits.value(ofLowercase: hexBytes[i]) else { return nil }
            words[i / 16] = words[i / 16] << 4 | UInt64(nibble)
        }
        w0 = words[0]; w1 = words[1]; w2 = words[2]; w3 = words[3]
    }

    /// Parses the text form `sha256:<64 lowercase hex>`, strictly.
    public init?(parsing text: some StringProtocol) {
        guard text.hasPrefix(Self.prefix) else { return nil }
        self.init(hex: text.dropFirst(Self.prefix.count))
    }

    /// Like `init?(parsing:)`, but with an error that says what is wrong.
    public static func parse(_ text: some StringProtocol) throws -> SHA256Digest {
        guard let digest = SHA256Digest(parsing: text) else {
            throw RRStoreError(.invalidDigest, "'\(text.prefix(80))' is not a digest: expected 'sha256:' followed by 64 lowercase hex digits")
        }
        return digest
    }

    public static func < (a: SHA256Digest, b: SHA256Digest) -> Bool {
        (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3)
    }

    /// One-shot hash through OpenSSL (SHA-NI where the CPU has it).
    public static func hash(_ data: UnsafeRawBufferPointer) -> SHA256Digest {
        var hasher = SHA256Hasher()
        hasher.update(data)
        return hasher.finalize()
    }

    public static func hash<C: Collection>(_ data: C) -> SHA256Digest where C.Element == UInt8 {
        if let digest = data.withContiguousStorageIfAvailable({ hash(UnsafeRawBufferPointer($0)) }) { return digest }
        return Array(data).withUnsafeBytes { hash($0) }
    }
}

enum HexDigits {
    static let lower: [UInt8] = Array("0123456789abcdef".utf8)

    @inline(__always)
    static func value(ofLowercase c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c &- UInt8(ascii: "a") &+ 10
        default: return nil
        }
    }

    @inline(__always)
    static func value(ofAnyCase c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c &- UInt8(ascii: "A") &+ 10
        default: return value(ofLowercase: c)
        }
    }
}

/// Streaming SHA-256 over OpenSSL's EVP interface.
///
/// Noncopyable because it owns an EVP context: the context is freed exactly once.
public struct SHA256Hasher: ~Copyable {
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new() else { fatalError("OpenSSL could not allocate a digest context (out of memory)") }
        self.context = context
        guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else { fatalError("OpenSSL refused to initialise SHA-256") }
    }

    deinit { EVP_MD_CTX_free(context) }

    public mutating func update(_ data: UnsafeRawBufferPointer) {
        guard let base = data.baseAddress, data.count > 0 else { return }
        EVP_DigestUpdate(context, base, data.count)
    }

    public mutating func update<C: Collection>(_ data: C) where C.Element == UInt8 {
        if data.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) == nil {
            Array(data).withUnsafeBytes { update($0) }
        }
    }

    public consuming func finalize() -> SHA256Digest {
        var out = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &out) { buffer in
            var length: UInt32 = 0
            EVP_DigestFinal_ex(context, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
            return SHA256Digest(bytes: UnsafeRawBufferPointer(buffer))
        }
    }
}
