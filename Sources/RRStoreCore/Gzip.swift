import CZlib

/// The framing around deflate data: gzip (`.gz` files, HTTP `Content-Encoding: gzip`) or
/// zlib (what rrweb's packer and fflate's `zlibSync` write).
public enum DeflateWrapper: Sendable {
    case gzip, zlib

    var windowBits: Int32 { self == .gzip ? 15 + 16 : 15 }
}

/// Streaming gzip decompression over zlib: feed compressed chunks, get decompressed
/// chunks. Handles multi-member files (as `cat a.gz b.gz` makes) and reports a truncated
/// or corrupt stream as an error instead of returning short data.
public final class GzipDecoder {
    private var stream = z_stream()
    private var atMemberEnd = false
    private var sawInput = false
    private var output: [UInt8]
    /// Decompressed bytes are limited to guard against decompression bombs.
    public let maxOutputBytes: Int
    public private(set) var totalOut = 0

    public init(chunkSize: Int = 256 << 10, maxOutputBytes: Int = .max, wrapper: DeflateWrapper = .gzip) {
        output = [UInt8](repeating: 0, count: chunkSize)
        self.maxOutputBytes = maxOutputBytes
        let status = rr_inflateInit2(&stream, wrapper.windowBits)
        precondition(status == Z_OK, "zlib could not initialise (out of memory)")
    }

    deinit { inflateEnd(&stream) }

    /// True if `prefix` starts with the gzip magic bytes.
    public static func isGzip(_ prefix: UnsafeRawBufferPointer) -> Bool {
        prefix.count >= 2 && prefix[0] == 0x1F && prefix[1] == 0x8B
    }

    /// Decompresses `input`, calling `body` with each piece of output.
    public func decode(_ input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let base = input.baseAddress, input.count > 0 else { return }
        sawInput = true
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        while stream.avail_in > 0 {
            if atMemberEnd {
                // Another gzip member follows the one that ended.
                guard inflateReset(&stream) == Z_OK else { throw corrupt("could not reset for the next member") }
                atMemberEnd = false
            }
            let produced = try inflateStep(body)
            if produced == 0 && stream.avail_in > 0 && !atMemberEnd { throw corrupt("no progress") }
        }
        // Drain output zlib still holds for the input it has taken.
        while !atMemberEnd, try inflateStep(body) > 0 {}
    }

    /// One `inflate` call into the output buffer: counts the bytes against the limit, hands
    /// them to `body`, notes a member's end; returns how many came out.
    private func inflateStep(_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let produced: Int = try output.withUnsafeMutableBytes { out in
            stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(out.count)
            let status = inflate(&stream, Z_NO_FLUSH)
            switch status {
            case Z_OK, Z_BUF_ERROR: break
            case Z_STREAM_END: atMemberEnd = true
            default: throw corrupt(stream.msg.map { String(cString: $0) } ?? "status \(status)")
            }
            return out.count - Int(stream.avail_out)
        }
        guard produced > 0 else { return 0 }
        totalOut += produced
        guard totalOut <= maxOutputBytes else {
            throw RRStoreError(.tooLarge, "gzip input decompresses to more than \(maxOutputBytes) bytes")
        }
        try output.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<produced])) }
        return produced
    }

    /// Call at the end of the input: throws if the last member was cut short.
    public func finish() throws {
        guard !sawInput || atMemberEnd else {
            throw RRStoreError(.invalidGzip, "the gzip stream is truncated (it ends before its last member is complete)")
        }
    }

    private func corrupt(_ reason: String) -> RRStoreError {
        RRStoreError(.invalidGzip, "the gzip stream is corrupt: \(reason)")
    }

    /// Decompresses a whole buffer.
    public static func decompress(_ data: [UInt8], maxOutputBytes: Int = .max, wrapper: DeflateWrapper = .gzip) throws -> [UInt8] {
        let decoder = GzipDecoder(maxOutputBytes: maxOutputBytes, wrapper: wrapper)
        var out = [UInt8]()
        try data.withUnsafeBytes { try decoder.decode($0) { out.append(contentsOf: $0) } }
        try decoder.finish()
        return out
    }
}

/// Streaming gzip compression over zlib.
public final class GzipEncoder {
    private var stream = z_stream()
    private var output: [UInt8]

    public init(level: Int32 = 6, chunkSize: Int = 256 << 10, wrapper: DeflateWrapper = .gzip) {
        output = [UInt8](repeating: 0, count: chunkSize)
        let status = rr_deflateInit2(&stream, level, wrapper.windowBits, 8)
        precondition(status == Z_OK, "zlib could not initialise (out of memory)")
    }

    deinit { deflateEnd(&stream) }

    public func encode(_ input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let base = input.baseAddress, input.count > 0 else { return }
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        try run(flush: Z_NO_FLUSH, body)
    }

    /// Writes the end of the stream.
    public func finish(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        stream.avail_in = 0
        try run(flush: Z_FINISH, body)
    }

    private func run(flush: Int32, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        while true {
            var status: Int32 = Z_OK
            let produced: Int = output.withUnsafeMutableBytes { out in
                stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(out.count)
                status = deflate(&stream, flush)
                return out.count - Int(stream.avail_out)
            }
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw RRStoreError(.invalidGzip, "zlib failed to compress (status \(status))")
            }
            if produced > 0 { try output.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<produced])) } }
            if flush == Z_FINISH ? status == Z_STREAM_END : (stream.avail_in == 0 && produced < output.count) { return }
        }
    }

    public static func compress(_ data: [UInt8], level: Int32 = 6, wrapper: DeflateWrapper = .gzip) throws -> [UInt8] {
        let encoder = GzipEncoder(level: level, wrapper: wrapper)
        var out = [UInt8]()
        try data.withUnsafeBytes { try encoder.encode($0) { out.append(contentsOf: $0) } }
        try encoder.finish { out.append(contentsOf: $0) }
        return out
    }
}
