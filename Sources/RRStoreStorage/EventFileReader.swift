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
        var gzip: GzipDecoder?
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var first = true
        let name = displayName
        do {
            while true {
                let n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0, path: name) }
                if n == 0 { break }
                bytesRead += n
                try chunk.withUnsafeBytes { raw in
                    let data = UnsafeRawBufferPointer(rebasing: raw[..<n])
                    if first {
                        first = false
                        if GzipDecoder.isGzip(data) { gzip = GzipDecoder() }
                    }
                    if let gzip {
                        try gzip.decode(data) { plain in
                            bytesDecoded += plain.count
                            try stream.feed(plain, handler)
                        }
                    } else {
                        bytesDecoded += n
                        try stream.feed(data, handler)
                    }
                }
            }
            try gzip?.finish()
            try stream.finish(handler)
        } catch var error as RRStoreError {
            error.message = "\(name): \(error.message)"
            throw error
        }
    }
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
