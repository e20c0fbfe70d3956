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
