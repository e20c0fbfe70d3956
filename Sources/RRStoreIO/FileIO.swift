#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CPosixShims
import RRStoreCore

/// Thin, typed wrappers over the POSIX calls the filesystem store needs (`fsync` of files
/// and directories, `O_EXCL`, `rename`), which Foundation does not expose.
public struct FileDescriptor: ~Copyable {
    public let raw: Int32

    private init(raw: Int32) { self.raw = raw }

    deinit { _ = close(raw) }

    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws -> FileDescriptor {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return FileDescriptor(raw: fd) }
            if errno == EINTR { continue }
            throw POSIXFailure.error("open", path: path)
        }
    }

    /// Opens `path`, runs `body` with the descriptor, and closes it whatever happens.
    public static func with<R>(_ path: String, flags: Int32, mode: mode_t = 0o644, _ body: (borrowing FileDescriptor) throws -> R) throws -> R {
        let fd = try open(path, flags: flags, mode: mode)
        return try body(fd)
    }

    public func writeAll(_ bytes: UnsafeRawBufferPointer, path: String = "") throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(raw, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXFailure.error("write", path: path)
            }
            offset += n
        }
    }

    /// Reads up to `buffer.count` bytes; 0 at the end of the file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, path: String = "") throws -> Int {
        while true {
            let n = Glibc.read(raw, buffer.baseAddress!, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw POSIXFailure.error("read", path: path)
        }
    }

    public func sync(path: String = "") throws {
        guard fsync(raw) == 0 else { throw POSIXFailure.error("fsync", path: path) }
    }

    public func size(path: String = "") throws -> Int {
        var info = stat()
        guard fstat(raw, &info) == 0 else { throw POSIXFailure.error("fstat", path: path) }
        return Int(info.st_size)
    }
}

public enum POSIXFailure {
    public static func error(_ call: String, path: String, errorNumber: Int32 = errno) -> RRStoreError {
        let reason = String(cString: strerror(errorNumber))
        // A full disk is the operator's to fix, not a bug: its own code (HTTP 507).
        let code: RRStoreError.Code = errorNumber == ENOSPC || errorNumber == EDQUOT ? .noSpace : .io
        return RRStoreError(code, "\(call) \(path.isEmpty ? "" : "'\(path)' ")failed: \(reason) (errno \(errorNumber))")
    }
}

public enum FileSystem {
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Creates `path` and its missing parents (like `mkdir -p`).
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        if mkdir(path, mode) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw POSIXFailure.error("mkdir", path: path) }
        let parent = directoryName(path)
        guard !parent.isEmpty, parent != path else { throw POSIXFailure.error("mkdir", path: path) }
        try makeDirectories(parent, mode: mode)
        guard mkdir(path, mode) == 0 || errno == EEXIST else { throw POSIXFailure.error("mkdir", path: path) }
    }

    public static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw POSIXFailure.error("rename", path: to) }
    }

    public static func remove(_ path: String) {
        _ = unlink(path)
    }

    /// Flushes everything written to the filesystem that holds `path` (`syncfs`): one call
    /// makes a whole batch of files and renames durable.
    public static func syncFileSystem(containing path: String) throws {
        try FileDescriptor.with(path, flags: O_RDONLY | O_DIRECTORY) { fd in
            guard rr_syncfs(fd.raw) == 0 else { throw POSIXFailure.error("syncfs", path: path) }
        }
    }

    /// fsyncs a directory, making a rename inside it durable.
    public static func syncDirectory(_ path: String) throws {
        try FileDescriptor.with(path, flags: O_RDONLY | O_DIRECTORY) { try $0.sync(path: path) }
    }

    /// Reads a whole file (also /proc files, whose size `stat` reports as 0).
    public static func readAll(_ path: String) throws -> [UInt8] {
        try FileDescriptor.with(path, flags: O_RDONLY) { fd in
            let size = try fd.size(path: path)
            var bytes = [UInt8](repeating: 0, count: size > 0 ? size : 4096)
            var filled = 0
            while true {
                if filled == bytes.count {
                    if size > 0 { break }
                    bytes.append(contentsOf: repeatElement(0, count: bytes.count))
                }
                let n = try bytes.withUnsafeMutableBytes {
                    try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...]), path: path)
                }
                if n == 0 { break }
                filled += n
            }
            bytes.removeLast(bytes.count - filled)
            return bytes
        }
    }

    /// Writes `bytes` to `path` atomically and durably (see `writeDurably`).
    public static func writeAtomically(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        _ = try writeDurably(to: path, createOnly: false) { fd, temporary in try fd.writeAll(bytes, path: temporary) }
    }

    /// Writes a temporary file beside `path` with `body`, fsyncs it, moves it into place —
    /// `rename` to replace, `link` for create-only (atomic: of concurrent writers exactly one
    /// creates it) — and fsyncs the directory. A reader sees the old file or the whole new
    /// one, and after a crash never a partial one. Returns false when create-only found
    /// `path` taken; if `body` throws, nothing is left behind.
    ///
    /// A create-only write of an object that exists still writes and syncs its temporary
    /// file before it finds out (and discards it): an upload of bytes another tenant stored
    /// must take as long as one of new bytes, or its timing tells that they were stored.
    /// Callers that need no answer skip the write instead (what a tenant holds already).
    public static func writeDurably(to path: String, createOnly: Bool,
                                    _ body: (borrowing FileDescriptor, String) throws -> Void) throws -> Bool {
        let directory = directoryName(path)
        try makeDirectories(directory)
        let temporary = "\(directory)/.tmp-\(UInt64.random(in: 0...UInt64.max))"
        defer { remove(temporary) }
        try FileDescriptor.with(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o644) { fd in
            try body(fd, temporary)
            try fd.sync(path: temporary)
        }
        if createOnly {
            guard link(temporary, path) == 0 else {
                guard errno == EEXIST else { throw POSIXFailure.error("link", path: path) }
                try syncDirectory(directory)  // as a new object's write would
                return false
            }
        } else {
            try rename(temporary, to: path)
        }
        try syncDirectory(directory)
        return true
    }
}
