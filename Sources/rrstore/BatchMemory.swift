#if canImport(Glibc)
import Glibc
#endif

/// Memory settings for the batch commands (rewrite, rehydrate), whose caches fill tens of
/// megabytes within a second: with 4 KiB pages the kernel's page faults cost more than a
/// fifth of a rewrite (measured on the corpus: 13,000 faults; ~3,900 with this).
/// A long-lived server keeps the allocator's defaults.
enum BatchMemory {
    static func tuneAllocator() {
        #if canImport(Glibc)
        keepFreedMemory()
        preferHugePagesForThisThreadsHeap()
        #endif
    }

    #if canImport(Glibc)
    /// Asks glibc's allocator to keep freed memory for reuse instead of handing it back to
    /// the kernel at once (which costs fresh page faults when it is needed again).
    private static func keepFreedMemory() {
        // <malloc.h> is not part of Swift's Glibc module; mallopt is looked up instead.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThreshold: Int32 = -1, topPad: Int32 = -2, mmapThreshold: Int32 = -3  // M_* in <malloc.h>
        _ = mallopt(mmapThreshold, 32 << 20)  // the largest glibc accepts
        _ = mallopt(trimThreshold, 256 << 20)
        _ = mallopt(topPad, 64 << 20)
    }

    /// Advises transparent huge pages (2 MiB) for the heap this thread allocates from, and
    /// grows that heap ahead (untouched, so it costs no memory yet) so its pages can be huge
    /// ones. glibc can do this itself (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`), but only
    /// when set before the process starts. Advice only: where the kernel has transparent
    /// huge pages off, or the heap is not found, nothing changes.
    private static func preferHugePagesForThisThreadsHeap() {
        let blocks = (0..<3).compactMap { _ in malloc(15 << 20) }
        blocks.forEach { free($0) }
        guard let probe = malloc(64) else { return }
        let address = UInt(bitPattern: probe)
        free(probe)
        guard let heap = anonymousMapping(containing: address) else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: heap.lowerBound), Int(heap.upperBound - heap.lowerBound), 14)  // MADV_HUGEPAGE
    }

    /// The anonymous read-write mapping holding `address`, extended over the inaccessible
    /// reservation right after it (where a thread's heap grows), from /proc/self/maps.
    private static func anonymousMapping(containing address: UInt) -> Range<UInt>? {
        guard let file = fopen("/proc/self/maps", "r") else { return nil }
        defer { fclose(file) }
        var found: Range<UInt>?
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            // "start-end perms offset device inode [path]"; anonymous mappings have no path.
            let fields = String(cString: line).split(whereSeparator: { $0 == " " || $0 == "\n" })
            let bounds = fields.first?.split(separator: "-").compactMap { UInt($0, radix: 16) } ?? []
            guard bounds.count == 2, fields.count == 5, fields[4] == "0" else {
                if found != nil { break }
                continue
            }
            if let heap = found {
                if bounds[0] == heap.upperBound && fields[1] == "---p" { found = heap.lowerBound..<bounds[1] }
                break
            }
            if bounds[0] <= address && address < bounds[1] && fields[1] == "rw-p" { found = bounds[0]..<bounds[1] }
        }
        return found
    }
    #endif
}
