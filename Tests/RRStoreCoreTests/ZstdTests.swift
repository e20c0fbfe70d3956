import RRStoreCore
import Testing
import RRStoreTestSupport

/// zstd as rrstore keeps bytes at rest with it: round trips, a bounded output whatever a
/// frame claims, damage detected (the frame checksum), and cut-short input refused.
@Suite struct ZstdTests {
    static let text: [UInt8] = Array((0..<20_000).map { "row \($0 % 97) of a repeated page; " }.joined().utf8)

    @Test func roundTripsAtEveryLevelAndInPieces() throws {
        for level: Int32 in [1, 3, 9, 19] {
            let frame = try Zstd.compress(Self.text, level: level)
            #expect(frame.starts(with: Zstd.magic))
            #expect(frame.count < Self.text.count / 10)
            #expect(try Zstd.decompress(frame) == Self.text)
        }
        let frame = try Zstd.compress(Self.text)
        for piece in [1, 7, 4096] {
            let decoder = try ZstdDecoder(chunkSize: 1000)
            var out: [UInt8] = []
            var offset = 0
            while offset < frame.count {
                let end = min(offset + piece, frame.count)
                try frame[offset..<end].withUnsafeBytes { try decoder.decode($0) { out += $0 } }
                offset = end
            }
            try decoder.finish()
            #expect(out == Self.text, "pieces of \(piece)")
        }
        #expect(try Zstd.decompress(try Zstd.compress([UInt8]())) == [])
        // Output that fills the decoder's chunks exactly, to a frame's end, is whole.
        let exact = [UInt8](repeating: 7, count: 2 << 18)
        #expect(try Zstd.decompress(try Zstd.compress(exact)) == exact)
    }

    @Test func outputIsBoundedDamageDetectedAndCutShortRefused() throws {
        let zeros = [UInt8](repeating: 0, count: 8 << 20)
        let bomb = try Zstd.compress(zeros, level: 19)
        #expect(bomb.count < 2000)
        let tooLarge = #expect(throws: RRStoreError.self) { try Zstd.decompress(bomb, maxOutputBytes: 1 << 20) }
        #expect(tooLarge?.code == .tooLarge)

        var damaged = try Zstd.compress(Self.text)
        damaged[damaged.count / 2] ^= 0x01
        let corrupt = #expect(throws: RRStoreError.self) { try Zstd.decompress(damaged) }
        #expect(corrupt?.code == .invalidZstd)

        let frame = try Zstd.compress(Self.text)
        let cut = #expect(throws: RRStoreError.self) { try Zstd.decompress(Array(frame.dropLast(3))) }
        #expect(cut?.code == .invalidZstd)
        #expect(throws: RRStoreError.self) { try Zstd.decompress([]) }
        #expect(throws: RRStoreError.self) { try Zstd.decompress(Array("not zstd at all".utf8)) }
    }

    /// The streaming encoder (the benchmarks' archival anchor): flushed output decodes to
    /// what was written so far, frames end and start again, and long-distance matching
    /// finds a repeat far beyond the level's own window.
    @Test func theStreamingEncoderFlushesEndsAndMatchesFarBack() throws {
        var generator = SplitMix64(seed: 7)
        let random = (0..<(2 << 20)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        func encode(_ windowLog: Int32?) throws -> (out: [UInt8], afterFirst: Int) {
            let encoder = try ZstdEncoder(level: 1, windowLog: windowLog)
            var out: [UInt8] = []
            try random.withUnsafeBytes { try encoder.write($0) { out += $0 } }
            try encoder.flush { out += $0 }
            let afterFirst = out.count
            #expect(try { let d = try ZstdDecoder(); var o: [UInt8] = []; try out.withUnsafeBytes { try d.decode($0) { o += $0 } }; return o }() == random,
                    "flushed output decodes to everything written so far")
            try random.withUnsafeBytes { try encoder.write($0) { out += $0 } }
            try encoder.end { out += $0 }
            #expect(encoder.totalOut == out.count)
            return (out, afterFirst)
        }
        let plain = try encode(nil), long = try encode(27)
        #expect(try Zstd.decompress(plain.out) == random + random)
        #expect(try Zstd.decompress(long.out) == random + random)
        #expect(plain.out.count > 2 * plain.afterFirst - 4096, "level 1's own window misses a repeat 2 MiB back")
        #expect(long.out.count < long.afterFirst + 64 << 10, "--long finds it")
    }
}
