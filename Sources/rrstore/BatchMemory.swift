#if canImport(Glibc)
import Glibc
#endif

/// Memory settings for the batch commands (rewrite, rehydrate).
enum BatchMemory {
    /// Asks glibc's allocator to keep freed memory for reuse instead of handing it back to
    /// the kernel at once. The rewriter's caches and per-event buffers come and go by the
    /// megabyte; with the defaults each round trip costs fresh page faults (measured: ~5% of
    /// a rewrite's time). A long-lived server keeps the defaults.
    static func keepFreedMemory() {
        #if canImport(Glibc)
        // <malloc.h> is not part of Swift's Glibc module; mallopt is looked up instead.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThreshold: Int32 = -1, topPad: Int32 = -2, mmapThreshold: Int32 = -3  // M_* in <malloc.h>
        _ = mallopt(mmapThreshold, 64 << 20)
        _ = mallopt(trimThreshold, 256 << 20)
        _ = mallopt(topPad, 64 << 20)
        #endif
    }
}
