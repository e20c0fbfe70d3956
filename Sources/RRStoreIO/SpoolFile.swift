#if canImport(Glibc)
import Glibc
#endif
import RRStoreCore

/// A temporary file for a large upload, removed when the request is done.
public struct SpoolFile {
    public let path: String
    private let fd: Int32

    public init(directory: String) throws {
        try FileSystem.makeDirectories(directory)
        var template = Array("\(directory)/rrstore-upload-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw RRStoreError(.io, "cannot create a spool file in \(directory): \(String(cString: strerror(errno)))") }
        self.fd = fd
        path = String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw RRStoreError(.io, "writing spool file \(path): \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }

    public func remove() {
        close(fd)
        unlink(path)
    }
}
