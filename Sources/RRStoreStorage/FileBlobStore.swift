#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import RRStoreCore
import RRStoreIO
import Synchronization

/// Blobs as files under a root directory, `<root>/<key>`: the embedded default, and the
/// offline CLI's asset directory (one layout and one code path for both).
///
/// Every write goes to a temporary file, is hashed and counted while it is written (a
/// mismatch stores nothing), made durable, then moved into place — `rename` to replace,
/// `link` for create-only (atomic: of concurrent writers of one key exactly one creates
/// it). A blob under its name is always whole. How durability is paid for:
///
/// - `.eachWrite` (the service): each file is fsynced, then its directory; a put is
///   durable when it returns.
/// - `.batched(n)` (bulk offline writes, e.g. `rrstore rewrite` into an empty directory):
///   files wait in `<root>/.incoming`, readable by this process, until `commit()` — called
///   every `n` puts and by the owner before it reports success — syncs the filesystem once,
///   moves every waiting file into place and syncs again: two syncs per batch instead of two
///   per file. Files never committed were never acknowledged and are dropped.
public final class FileBlobStore: BlobStore {
    public enum Durability: Sendable, Equatable {
        case eachWrite
        case batched(Int)
    }

    public let root: String
    public let durability: Durability
    private let incoming: String
    private let staged = Mutex<[BlobKey: Staged]>([:])
    private let createdDirectories = Mutex<Set<String>>([])

    private struct Staged {
        var temporary: String
        var createOnly: Bool
    }

    public init(root: String, durability: Durability = .eachWrite) throws {
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
        self.durability = durability
        incoming = "\(root)/.incoming"
        try FileSystem.makeDirectories(durability == .eachWrite ? root : incoming)
    }

    deinit {
        // Uncommitted files were never acknowledged: drop them.
        for entry in staged.withLock({ $0.values }) { FileSystem.remove(entry.temporary) }
    }

    func path(_ key: BlobKey) -> String { "\(root)/\(key.rawValue)" }

    /// Where the key's bytes are now: its waiting file while one is staged.
    private func currentPath(_ key: BlobKey) -> String {
        // The service's store (`.eachWrite`) never stages: no lock on its read path.
        guard durability != .eachWrite else { return path(key) }
        return staged.withLock { $0[key]?.temporary } ?? path(key)
    }

    public func put(_ key: BlobKey, bytes: [UInt8], expecting: BlobExpectation?, createOnly: Bool) async throws -> PutOutcome {
        if let expecting { try expecting.check(digest: SHA256Digest.hash(bytes), size: bytes.count, key: key) }
        return try await BlockingIO.run {
            try bytes.withUnsafeBytes { try self.write(key, bytes: $0, createOnly: createOnly) }
        }
    }

    /// `put` for callers that are not async (the CLI's rewrite loop); the caller vouches
    /// for the bytes.
    public func write(_ key: BlobKey, bytes: UnsafeRawBufferPointer, createOnly: Bool) throws -> PutOutcome {
        try write(key, createOnly: createOnly) { fd, temporary in try fd.writeAll(bytes, path: temporary) }
    }

    public func putFile(_ key: BlobKey, path source: String, expecting: BlobExpectation?, createOnly: Bool) async throws -> PutOutcome {
        try await BlockingIO.run {
            try self.write(key, createOnly: createOnly) { fd, temporary in
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

    private func write(_ key: BlobKey, createOnly: Bool, _ body: (borrowing FileDescriptor, String) throws -> Void) throws -> PutOutcome {
        guard case .batched(let batchSize) = durability else {
            return try FileSystem.writeDurably(to: path(key), createOnly: createOnly, body) ? .created : .alreadyExisted
        }
        if createOnly && (staged.withLock({ $0[key] != nil }) || FileSystem.exists(path(key))) { return .alreadyExisted }
        let temporary = "\(incoming)/\(UInt64.random(in: 0...UInt64.max))"
        do {
            try FileDescriptor.with(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o644) { fd in try body(fd, temporary) }
        } catch {
            FileSystem.remove(temporary)
            throw error
        }
        let (replaced, waiting) = staged.withLock { staged -> (String?, Int) in
            let old = staged.updateValue(Staged(temporary: temporary, createOnly: createOnly), forKey: key)
            return (old?.temporary, staged.count)
        }
        if let replaced { FileSystem.remove(replaced) }
        if waiting >= batchSize { try commit() }
        return .created
    }

    /// Makes every waiting file durable under its name (`.batched`; nothing to do otherwise).
    public func commit() throws {
        let batch = staged.withLock { staged in defer { staged = [:] }; return staged }
        guard !batch.isEmpty else { return }
        do {
            try FileSystem.syncFileSystem(containing: root)
            for (key, entry) in batch {
                let destination = path(key)
                let directory = FileSystem.directoryName(destination)
                if !createdDirectories.withLock({ $0.contains(directory) }) {
                    try FileSystem.makeDirectories(directory)
                    createdDirectories.withLock { _ = $0.insert(directory) }
                }
                if entry.createOnly {
                    // Another writer may have created it meanwhile: the first one stays.
                    guard link(entry.temporary, destination) == 0 || errno == EEXIST else { throw POSIXFailure.error("link", path: destination) }
                    FileSystem.remove(entry.temporary)
                } else {
                    try FileSystem.rename(entry.temporary, to: destination)
                }
            }
            try FileSystem.syncFileSystem(containing: root)
        } catch {
            for entry in batch.values { FileSystem.remove(entry.temporary) }
            throw error
        }
    }

    public func get(_ key: BlobKey, range: Range<Int>?) async throws -> [UInt8] {
        try await BlockingIO.run { try self.read(key, range: range) }
    }

    /// `get` for callers that are not async.
    public func read(_ key: BlobKey, range: Range<Int>? = nil) throws -> [UInt8] {
        var path = currentPath(key)
        var fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 && errno == ENOENT && path != self.path(key) {
            // Committed since we looked: it is under its name now.
            path = self.path(key)
            fd = open(path, O_RDONLY | O_CLOEXEC)
        }
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

    public func download(_ key: BlobKey, to destination: String) async throws -> BlobInfo {
        let path = currentPath(key)
        return try await BlockingIO.run {
            guard FileSystem.exists(path) else { throw RRStoreError.notFound(key) }
            var size = 0
            _ = try FileSystem.writeDurably(to: destination, createOnly: false) { out, temporary in
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
        try info(key)
    }

    /// `head` for callers that are not async.
    public func info(_ key: BlobKey) throws -> BlobInfo? {
        var info = stat()
        let current = currentPath(key)
        // A waiting file may have been committed since we looked: then it is under its name.
        guard stat(current, &info) == 0 || (current != path(key) && stat(path(key), &info) == 0) else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw POSIXFailure.error("stat", path: path(key))
        }
        return BlobInfo(key: key, size: Int(info.st_size))
    }

    public func delete(_ key: BlobKey) async throws {
        let path = path(key)
        if let waiting = staged.withLock({ $0.removeValue(forKey: key) }) { FileSystem.remove(waiting.temporary) }
        try await BlockingIO.run {
            guard unlink(path) == 0 else {
                if errno == ENOENT || errno == ENOTDIR { return }
                throw POSIXFailure.error("unlink", path: path)
            }
            try FileSystem.syncDirectory(FileSystem.directoryName(path))
        }
    }

    /// Removes the temporary files in `.incoming` last written before `cutoff`
    /// (milliseconds since 1970): writes a killed process left behind. Answers how many
    /// there were and their bytes (counted, not removed, when `dryRun`).
    public func removeAbandonedTemporaries(writtenBefore cutoff: Int64, dryRun: Bool) async throws -> (count: Int, bytes: Int) {
        let incoming = self.incoming
        let live = staged.withLock { Set($0.values.map(\.temporary)) }
        return try await BlockingIO.run {
            guard let handle = opendir(incoming) else { return (0, 0) }
            defer { closedir(handle) }
            var found = (count: 0, bytes: 0)
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
                let path = "\(incoming)/\(name)"
                var info = stat()
                guard name != ".", name != "..", !live.contains(path), lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
                      Int64(info.st_mtim.tv_sec) * 1000 < cutoff else { continue }
                if !dryRun { FileSystem.remove(path) }
                found.count += 1
                found.bytes += Int(info.st_size)
            }
            return found
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
            let waiting = self.staged.withLock { Array($0.keys) }.map(\.rawValue).filter { $0.hasPrefix(prefix) }
            keys = Array(Set(keys + waiting))
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
                guard stat(self.currentPath(key), &info) == 0 else { continue }  // deleted meanwhile
                blobs.append(BlobInfo(key: key, size: Int(info.st_size),
                                      lastModified: Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000))
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
