import CZstd

/// zstd (libzstd) for what rrstore keeps at rest: assets and event chunks. gzip stays where
/// the world speaks it (HTTP `Content-Encoding`, Firehose objects, backfill input).
///
/// Frames carry their content size and a checksum. Decoding is streamed into a bounded
/// output, so a hostile frame (a "zstd bomb", a forged content size) costs at most
/// `maxOutputBytes`, and the window a frame may ask for is capped (`maxWindowLog`) so no
/// frame makes the decoder allocate more than 128 MiB.
public enum Zstd {
    /// Frames' magic bytes, for telling zstd from other stored forms.
    public static let magic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
    /// The largest window a stored frame may use (2^27 = 128 MiB).
    public static let maxWindowLog: Int32 = 27

    /// The zstd frame of `bytes` at `level` (1…19; 3 is zstd's default).
    public static func compress(_ bytes: [UInt8], level: Int32 = 3) throws -> [UInt8] {
        try bytes.withUnsafeBytes { try compress($0, level: level) }
    }

    public static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = 3) throws -> [UInt8] {
        guard let context = ZSTD_createCCtx() else { throw RRStoreError(.tooLarge, "zstd: out of memory creating a compression context") }
        defer { ZSTD_freeCCtx(context) }
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "setting the level")
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), "asking for a checksum")
        var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let written = output.withUnsafeMutableBytes { out in
            ZSTD_compress2(context, out.baseAddress, out.count, input.baseAddress, input.count)
        }
        try check(written, "compressing")
        output.removeSubrange(written...)
        return output
    }

    /// The bytes of the zstd frame(s) in `frame`; at most `maxOutputBytes` of them, else
    /// `.tooLarge`. A damaged or cut-short frame (its checksum too) is `.invalidZstd`.
    public static func decompress(_ frame: [UInt8], maxOutputBytes: Int = .max) throws -> [UInt8] {
        try frame.withUnsafeBytes { try decompress($0, maxOutputBytes: maxOutputBytes) }
    }

    public static func decompress(_ input: UnsafeRawBufferPointer, maxOutputBytes: Int = .max) throws -> [UInt8] {
        let decoder = try ZstdDecoder(maxOutputBytes: maxOutputBytes)
        // The header's content size is a hint for the first allocation, never trusted further.
        let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        let hint = rr_zstd_content_size_known(declared) != 0 ? Int(clamping: declared) : input.count * 4
        var result: [UInt8] = []
        result.reserveCapacity(min(max(hint, 64), min(maxOutputBytes, 64 << 20)))
        try decoder.decode(input) { result.append(contentsOf: $0) }
        try decoder.finish()
        return result
    }

    static func check(_ code: Int, _ doing: String) throws {
        guard rr_zstd_is_error(code) != 0 else { return }
        throw RRStoreError(.invalidZstd, "zstd failed \(doing): \(String(cString: rr_zstd_error_name(code)))")
    }
}

/// Streams zstd frames: input in pieces of any size, output handed over piece by piece,
/// bounded in total (`maxOutputBytes`) and in the window a frame may ask for.
public final class ZstdDecoder {
    private let context: OpaquePointer
    private var chunk: [UInt8]
    public let maxOutputBytes: Int
    public private(set) var totalOut = 0
    /// zstd's hint after the last call: 0 once the input ended at a frame's end.
    private var pending = 1

    public init(chunkSize: Int = 256 << 10, maxOutputBytes: Int = .max) throws {
        guard let context = ZSTD_createDCtx() else { throw RRStoreError(.tooLarge, "zstd: out of memory creating a decompression context") }
        self.context = context
        self.chunk = [UInt8](repeating: 0, count: max(chunkSize, 1))
        self.maxOutputBytes = maxOutputBytes
        try Zstd.check(ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, Zstd.maxWindowLog), "capping the window")
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Feeds `input`; `body` gets each piece of output as it is made.
    public func decode(_ input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            let consumedBefore = source.pos
            let (produced, code) = chunk.withUnsafeMutableBytes { out -> (Int, Int) in
                var sink = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                let code = ZSTD_decompressStream(context, &sink, &source)
                return (sink.pos, code)
            }
            try Zstd.check(code, "decompressing")
            // A call that moved nothing (the one after output filled the chunk exactly at a
            // frame's end) answers the next frame's header size: it says nothing of this one.
            if produced > 0 || source.pos > consumedBefore { pending = code }
            guard totalOut <= maxOutputBytes - produced else {
                throw RRStoreError(.tooLarge, "a zstd frame decompresses to more than \(maxOutputBytes) bytes")
            }
            totalOut += produced
            if produced > 0 { try chunk.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<produced])) } }
            // A full output buffer may leave output inside the decoder even with all input read.
            if source.pos == source.size && produced < chunk.count { return }
        }
    }

    /// Throws unless the input ended at the end of a frame.
    public func finish() throws {
        guard pending == 0 else { throw RRStoreError(.invalidZstd, "the zstd frame is cut short (\(totalOut) bytes out)") }
    }
}

/// Streams input into one zstd frame, with zstd's long-distance matching when asked
/// (`windowLog`, as `zstd --long=N`): what an archival compressor does over a whole
/// stream. `flush()` makes all output so far decodable (`ZSTD_e_flush`); `end()` closes
/// the frame. Benchmarks use it as the anchor rrstore's stored bytes are measured against.
public final class ZstdEncoder {
    private let context: OpaquePointer
    private var chunk = [UInt8](repeating: 0, count: 1 << 17)
    /// Compressed bytes produced so far, over every frame.
    public private(set) var totalOut = 0

    public init(level: Int32, windowLog: Int32? = nil) throws {
        guard let context = ZSTD_createCCtx() else { throw RRStoreError(.tooLarge, "zstd: out of memory creating a compression context") }
        self.context = context
        try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "setting the level")
        if let windowLog {
            try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_enableLongDistanceMatching, 1), "enabling long matching")
            try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, windowLog), "setting the window")
        }
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Compresses `input`; `body` gets the output as it is made.
    public func write(_ input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void = { _ in }) throws {
        try run(input, ZSTD_e_continue, body)
    }

    /// Makes every byte written so far decodable from the output so far.
    public func flush(_ body: (UnsafeRawBufferPointer) throws -> Void = { _ in }) throws {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), ZSTD_e_flush, body)
    }

    /// Ends the frame; a later `write` starts a new one (sharing no context with this).
    public func end(_ body: (UnsafeRawBufferPointer) throws -> Void = { _ in }) throws {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), ZSTD_e_end, body)
    }

    private func run(_ input: UnsafeRawBufferPointer, _ directive: ZSTD_EndDirective, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            let (produced, remaining) = chunk.withUnsafeMutableBytes { out -> (Int, Int) in
                var sink = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                let remaining = ZSTD_compressStream2(context, &sink, &source, directive)
                return (sink.pos, remaining)
            }
            try Zstd.check(remaining, "compressing")
            totalOut += produced
            if produced > 0 { try chunk.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<produced])) } }
            // Done when the input is consumed and, for a flush or an end, nothing is left inside.
            if source.pos == source.size && (directive == ZSTD_e_continue || remaining == 0) { return }
        }
    }
}
