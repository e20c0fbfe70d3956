import RRStoreCore
import Testing

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
}
