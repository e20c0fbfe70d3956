#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import RRStoreCore

/// Reads events from a file or standard input — a JSON array of events, NDJSON, or gzip of
/// either — in fixed-size chunks, so memory stays near the largest event whatever the
/// file's size.
public struct EventFileReader {
    public let path: String?
    public let chunkSize: Int
    public let maxEventSize: Int
    /// Bytes read from the file (compressed, if it is gzip).
    public private(set) var bytesRead = 0
    /// Bytes of JSON text after decompression.
    public private(set) var bytesDecoded = 0
    /// A plain file is mapped, not read; its pages are given back after this many bytes.
    public var mappedReleaseStep = 2 << 20

    /// `path` nil or "-" reads standard input.
    public init(path: String?, chunkSize: Int = 1 << 20, maxEventSize: Int = 256 << 20) {
        self.path = (path == "-") ? nil : path
        self.chunkSize = chunkSize
        self.maxEventSize = maxEventSize
    }

    public var displayName: String { path ?? "standard input" }

    /// Feeds the events, in order, to `handler`, which parses one event from the start of
    /// the bytes it is given and returns its length (see `EventStream`).
    public mutating func readEvents(_ handler: EventStream.Handler) throws {
        let fd = try FileDescriptor.open(path ?? "/dev/stdin", flags: O_RDONLY)
        var stream = EventStream(maxEventSize: maxEventSize)
        let name = displayName
        do {
            if let mapped = MappedFile(fd, releaseStep: mappedReleaseStep) {
                defer { mapped.unmap() }
                bytesRead = mapped.bytes.count
                bytesDecoded = mapped.bytes.count
                try stream.feedWhole(mapped.bytes) { remainder in
                    mapped.release(upTo: remainder.baseAddress! - mapped.bytes.baseAddress!)
                    return try handler(remainder)
                }
                try stream.finish(handler)
                return
            }
            // Sniff the first bytes: plain JSON is read straight into the stream's buffer;
            // gzip goes through the decoder in chunks.
            var head = [UInt8](repeating: 0, count: 2)
            let headCount = try head.withUnsafeMutableBytes { try readFully(fd, into: $0, name: name) }
            bytesRead += headCount
            if headCount == 2 && head[0] == 0x1F && head[1] == 0x8B {
                let gzip = GzipDecoder()
                var decoded = 0
                var chunk = head
                var n = headCount
                while n > 0 {
                    try chunk.withUnsafeBytes { compressed in
                        try gzip.decode(UnsafeRawBufferPointer(rebasing: compressed[..<n])) { plain in
                            decoded += plain.count
                            try stream.feed(plain, handler)
                        }
                    }
                    if chunk.count < chunkSize { chunk = [UInt8](repeating: 0, count: chunkSize) }
                    n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0, path: name) }
                    bytesRead += n
                }
                bytesDecoded += decoded
                try gzip.finish()
            } else {
                bytesDecoded += headCount
                try head.withUnsafeBytes { try stream.feed(UnsafeRawBufferPointer(rebasing: $0[..<headCount]), handler) }
                var read = 0
                while try stream.fill(chunkSize: chunkSize, read: { buffer in
                    let n = try fd.read(into: buffer, path: name)
                    read += n
                    return n
                }, handler) {}
                bytesRead += read
                bytesDecoded += read
            }
            try stream.finish(handler)
        } catch var error as RRStoreError {
            error.message = "\(name): \(error.message)"
            throw error
        }
    }
}

/// Reads until `buffer` is full or the input ends; returns the count read.
private func readFully(_ fd: borrowing FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, name: String) throws -> Int {
    var filled = 0
    while filled < buffer.count {
        let n = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]), path: name)
        if n == 0 { break }
        filled += n
    }
    return filled
}

/// Buffered writes to a file descriptor (standard output by default).
public final class BufferedOutput {
    private var buffer: [UInt8] = []
    private let fd: Int32
    private let flushThreshold: Int
    public private(set) var bytesWritten = 0

    public init(fd: Int32 = 1, flushThreshold: Int = 1 << 20) {
        self.fd = fd
        self.flushThreshold = flushThreshold
        buffer.reserveCapacity(flushThreshold + 4096)
    }

    /// Appends through `body`, then flushes if the buffer is full.
    public func write(_ body: (inout [UInt8]) throws -> Void) throws {
        try body(&buffer)
        if buffer.count >= flushThreshold { try flush() }
    }

    public func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw POSIXFailure.error("write", path: "standard output")
                }
                offset += n
            }
        }
        bytesWritten += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }
}

/// A plain (not gzip) regular file mapped into memory, read where it lies: no copy into a
/// buffer, and events are parsed once whatever their size. Pages already read are given
/// back as the reader goes (every 2 MiB), so resident memory stays bounded however large
/// the file. (A file
/// truncated by someone else while mapped ends the process with SIGBUS.)
private final class MappedFile {
    let bytes: UnsafeRawBufferPointer
    private var released = 0
    private let releaseStep: Int

    /// nil when the file is not a non-empty regular file, or is gzip (those are read).
    init?(_ fd: borrowing FileDescriptor, releaseStep: Int) {
        self.releaseStep = max(releaseStep, Int(getpagesize()))
        var info = stat()
        guard fstat(fd.raw, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size > 2 else { return nil }
        var magic: (UInt8, UInt8) = (0, 0)
        guard pread(fd.raw, &magic, 2, 0) == 2, !(magic.0 == 0x1F && magic.1 == 0x8B) else { return nil }
        let size = Int(info.st_size)
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd.raw, 0),
              base != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }  // MAP_FAILED: read instead
        _ = madvise(base, size, MADV_SEQUENTIAL)
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// Drops the pages wholly before `offset` from memory (they stay in the page cache).
    func release(upTo offset: Int) {
        guard offset - released >= releaseStep else { return }
        let end = offset & ~(Int(getpagesize()) - 1)
        _ = madvise(UnsafeMutableRawPointer(mutating: bytes.baseAddress! + released), end - released, MADV_DONTNEED)
        released = end
    }

    func unmap() { _ = munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), bytes.count) }
}
