#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RRStoreCore
import RRStoreStorage
import Synchronization

/// A plain TCP connection for requests no HTTP client would send (malformed framing,
/// bodies that never come, connections that just sit there).
final class RawHTTP: @unchecked Sendable {
    private let fd: Int32

    init(_ url: String) throws {
        guard let port = UInt16(url.split(separator: ":").last.map(String.init) ?? "") else { throw RRStoreError(.io, "no port in \(url)") }
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw RRStoreError(.io, "connect to \(url) failed: errno \(errno)") }
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw RRStoreError(.io, "send failed: errno \(errno)")
        }
    }

    /// What the server sends until it closes the connection, `timeout` seconds pass, or
    /// (with `untilResponse`) one whole response with a Content-Length has arrived: a
    /// server that answers before reading the body may reset the connection right after,
    /// and a reset can drop what was not read yet.
    /// Blocking reads run on a thread of their own: Swift's cooperative threads (two here)
    /// also run every in-process test server, and a test blocking them would stall those.
    func readAll(timeout: Double, untilResponse: Bool = false) async -> String {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: self.readBlocking(timeout: timeout, untilResponse: untilResponse)) }
        }
    }

    private func readBlocking(timeout: Double, untilResponse: Bool) -> String {
        var out: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) >= 0 else { break }
            if poller.revents == 0 { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buffer[..<n]
            if untilResponse, RawHTTP.isComplete(out) { break }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func exchange(_ url: String, _ request: String, timeout: Double = 30) async throws -> String {
        let connection = try RawHTTP(url)
        try connection.send(request)
        return await connection.readAll(timeout: timeout, untilResponse: true)
    }

    static func isComplete(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let head = text[..<end.lowerBound].lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
              let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) else { return false }
        return text[end.upperBound...].utf8.count >= length
    }
}

/// A blob store that, while stalled, blocks every call on a thread (as a libcurl transfer
/// to a frozen S3 does), ignoring cancellation.
final class StallingBlobStore: BlobStore, @unchecked Sendable {
    private let inner: any BlobStore
    private let stalled = Mutex(false)

    init(_ inner: any BlobStore) { self.inner = inner }

    func stall(_ on: Bool) { stalled.withLock { $0 = on } }

    /// Blocks a thread of its own (never one of Swift's few cooperative threads) while stalled.
    private func wait() async {
        guard stalled.withLock({ $0 }) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                while self.stalled.withLock({ $0 }) { usleep(20_000) }
                continuation.resume()
            }
        }
    }

    func put(_ key: BlobKey, bytes: [UInt8], expecting: BlobExpectation?, createOnly: Bool) async throws -> PutOutcome {
        await wait(); return try await inner.put(key, bytes: bytes, expecting: expecting, createOnly: createOnly)
    }
    func putFile(_ key: BlobKey, path: String, expecting: BlobExpectation?, createOnly: Bool) async throws -> PutOutcome {
        await wait(); return try await inner.putFile(key, path: path, expecting: expecting, createOnly: createOnly)
    }
    func get(_ key: BlobKey, range: Range<Int>?) async throws -> [UInt8] { await wait(); return try await inner.get(key, range: range) }
    func head(_ key: BlobKey) async throws -> BlobInfo? { await wait(); return try await inner.head(key) }
    func download(_ key: BlobKey, to path: String) async throws -> BlobInfo { await wait(); return try await inner.download(key, to: path) }
    func list(prefix: String, after: String?, limit: Int) async throws -> BlobPage {
        await wait(); return try await inner.list(prefix: prefix, after: after, limit: limit)
    }
    func delete(_ key: BlobKey) async throws { await wait(); try await inner.delete(key) }
}
