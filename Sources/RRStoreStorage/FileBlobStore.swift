#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import RRStoreCore
import RRStoreIO

/// Blobs as files under a root directory, `<root>/<key>`: the embedded default.
///
/// Every write goes to a temporary file beside its destination, is hashed and counted while
/// it is written (a mismatch stores nothing), fsynced, then moved into place — `rename`
/// to replace, `link` for create-only (atomic: of concurrent writers of one key exactly one
/// creates it) — and the directory is fsynced. A blob under its name is always whole.
public final class FileBlobStore: BlobStore {
    public let root: String

    public init(root: String) throws {
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
        try FileSystem.makeDirectories(root)
    }

    func path(_ key: BlobKey) -> String { "\(root)/\(key.rawValue)" }

    public func put(_ key: BlobKey, bytes: [UInt8], expecting: BlobExpectation?, createOnly: Bool) async throws -> PutOutcome {
        if let expecting { try expecting.check(digest: SHA256Digest.hash(bytes), size: bytes.count, key: key) }
        let path = path(key)
        return try await BlockingIO.run {
            try FileBlobStore.write(to: path, createOnly: createOnly) { fd, temporary in
                try bytes.withUnsafeBytes { try fd.writeAll($0, path: temporary) }
            }
        }
    }

    public func putFile(_ key: BlobKey, path source: String, expecting: BlobExpectation?, createOnly: Bool) async throws -> PutOutcome {
        let path = path(key)
        return try await BlockingIO.run {
            try FileBlobStore.write(to: path, createOnly: createOnly) { fd, temporary in
                var hasher = SHA256Hasher()
                var size = 0
                try FileDescriptor.with(source, flags: O_RDONLY) { input in
                    var chunk = [UInt8](repeating: 0, count: 1 << 20)
                    while true {
                        let n = try chunk.withUnsafeMutableBytes { try input.read(into: $0, path: source) }
                        if n == 0 { break }
                        try chunk.withUnsafeBytes { buffer in
                            let piece = UnsafeRawBufferPointer(rebasing: buffer[..<n])
                            hasher.update(piece)
                            try fd.writeAll(piece, path: temporary)
                        }
                        size += n
                    }
                }
                try expecting?.check(digest: hasher.finalize(), size: size, key: key)
            }
        }
    }

    /// `FileSystem.writeDurably` as a put outcome.
    static func write(to path: String, createOnly: Bool, _ body: (borrowing FileDescriptor, String) throws -> Void) throws -> PutOutcome {
        try FileSystem.writeDurably(to: path, createOnly: createOnly, body) ? .created : .alreadyExisted
    }

    public func get(_ key: BlobKey, range: Range<Int>?) async throws -> [UInt8] {
        let path = path(key)
        return try await BlockingIO.run {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT || errno == ENOTDIR { throw RRStoreError.notFound(key) }
                throw POSIXFailure.error("open", path: path)
            }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw POSIXFailure.error("fstat", path: path) }
            let wanted = try clamp(range, size: Int(info.st_size), key: key)
            // Uninitialized: the bytes are written once, by pread.
            return try [UInt8](unsafeUninitializedCapacity: wanted.count) { buffer, initialized in
                var filled = 0
                while filled < wanted.count {
                    let n = pread(fd, buffer.baseAddress! + filled, wanted.count - filled, off_t(wanted.lowerBound + filled))
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw n == 0 ? RRStoreError(.io, "\(path) shrank while being read") : POSIXFailure.error("pread", path: path) }
                    filled += n
                }
                initialized = filled
            }
        }
    }

    public func download(_ key: BlobKey, to destination: String) async throws -> BlobInfo {
        let path = path(key)
        return try await BlockingIO.run {
            guard FileSystem.exists(path) else { throw RRStoreError.notFound(key) }
            var size = 0
            _ = try FileBlobStore.write(to: destination, createOnly: false) { out, temporary in
                try FileDescriptor.with(path, flags: O_RDONLY) { input in
                    var chunk = [UInt8](repeating: 0, count: 1 << 20)
                    while true {
                        let n = try chunk.withUnsafeMutableBytes { try input.read(into: $0, path: path) }
                        if n == 0 { break }
                        try chunk.withUnsafeBytes { try out.writeAll(UnsafeRawBufferPointer(rebasing: $0[..<n]), path: temporary) }
                        size += n
                    }
                }
            }
            return BlobInfo(key: key, size: size)
        }
    }

    public func head(_ key: BlobKey) async throws -> BlobInfo? {
        var info = stat()
        guard stat(path(key), &info) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw POSIXFailure.error("stat", path: path(key))
        }
        return BlobInfo(key: key, size: Int(info.st_size))
    }

    public func delete(_ key: BlobKey) async throws {
        let path = path(key)
        try await BlockingIO.run {
            guard unlink(path) == 0 else {
                if errno == ENOENT || errno == ENOTDIR { return }
                throw POSIXFailure.error("unlink", path: path)
            }
            try FileSystem.syncDirectory(FileSystem.directoryName(path))
        }
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> BlobPage {
        let root = self.root
        return try await BlockingIO.run {
            // Walk only the directory the prefix reaches into.
            let directoryPart = prefix.contains("/") ? String(prefix[..<prefix.lastIndex(of: "/")!]) : ""
            var keys: [String] = []
            FileBlobStore.walk(root: root, relative: directoryPart) { key in
                if key.hasPrefix(prefix) { keys.append(key) }
            }
            var sorted = keys.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
            if let after {
                let afterBytes = Array(after.utf8)
                sorted = sorted.filter { afterBytes.lexicographicallyPrecedes($0) }
            }
            let page = sorted.prefix(max(limit, 1))
            var blobs: [BlobInfo] = []
            for keyBytes in page {
                let key = try BlobKey(String(decoding: keyBytes, as: UTF8.self))
                var info = stat()
                guard stat("\(root)/\(key.rawValue)", &info) == 0 else { continue }  // deleted meanwhile
                blobs.append(BlobInfo(key: key, size: Int(info.st_size)))
            }
            let next = sorted.count > page.count ? page.last.map { String(decoding: $0, as: UTF8.self) } : nil
            return BlobPage(blobs: blobs, next: next)
        }
    }

    /// Calls `visit` with the key of every regular file under `relative`, skipping
    /// temporary files (names starting with '.').
    static func walk(root: String, relative: String, _ visit: (String) -> Void) {
        let directory = relative.isEmpty ? root : "\(root)/\(relative)"
        guard let handle = opendir(directory) else { return }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard !name.hasPrefix(".") else { continue }
            let key = relative.isEmpty ? name : "\(relative)/\(name)"
            var info = stat()
            guard stat("\(root)/\(key)", &info) == 0 else { continue }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                walk(root: root, relative: key, visit)
            } else if (info.st_mode & S_IFMT) == S_IFREG {
                visit(key)
            }
        }
    }
}
