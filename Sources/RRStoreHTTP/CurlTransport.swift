import CCurl
import RRStoreCore
import RRStoreIO
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One HTTP exchange over libcurl, blocking: callers run it through `BlockingIO`.
public struct CurlRequest: Sendable {
    public enum Body: Sendable {
        case none
        case bytes([UInt8])
        /// `length` bytes of the file at `path` from `offset`, streamed.
        case file(path: String, offset: Int, length: Int)

        var count: Int {
            switch self {
            case .none: return 0
            case .bytes(let bytes): return bytes.count
            case .file(_, _, let length): return length
            }
        }
    }

    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: Body = .none
    /// When set, a 2xx response body is written to this file instead of memory.
    public var downloadTo: String?

    public init(method: String, url: String, headers: [(String, String)] = [], body: Body = .none, downloadTo: String? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.downloadTo = downloadTo
    }
}

public struct CurlResponse: Sendable {
    public var status: Int
    /// Names in lower case, in arrival order.
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.last { $0.0 == lower }?.1
    }
}

/// A libcurl failure before a response arrived (connection refused or reset, timeout, ...).
public struct CurlFailure: Error, CustomStringConvertible {
    public var code: CURLcode
    public var message: String
    public var description: String { "libcurl error \(code.rawValue): \(message)" }
}

/// libcurl easy handles kept open between requests, so connections are reused (keep-alive).
public final class CurlTransport: Sendable {
    private struct Handle: @unchecked Sendable { let raw: UnsafeMutableRawPointer }
    private let idle = Mutex<[Handle]>([])
    let connectTimeoutMilliseconds: Int
    /// A transfer slower than 1 byte/s for this long is abandoned (a stalled peer).
    let stallSeconds: Int
    let maxIdleHandles: Int

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init(connectTimeoutMilliseconds: Int = 5000, stallSeconds: Int = 30, maxIdleHandles: Int = 32) {
        _ = CurlTransport.globalInit
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.stallSeconds = stallSeconds
        self.maxIdleHandles = maxIdleHandles
    }

    deinit {
        idle.withLock { handles in
            for handle in handles { curl_easy_cleanup(handle.raw) }
            handles.removeAll()
        }
    }

    private func checkout() -> UnsafeMutableRawPointer {
        if let handle = idle.withLock({ $0.popLast() }) { return handle.raw }
        guard let handle = curl_easy_init() else { fatalError("curl_easy_init failed (out of memory)") }
        return handle
    }

    private func checkin(_ handle: UnsafeMutableRawPointer) {
        let kept = idle.withLock { handles -> Bool in
            guard handles.count < maxIdleHandles else { return false }
            handles.append(Handle(raw: handle))
            return true
        }
        if !kept { curl_easy_cleanup(handle) }
    }

    /// The exchange, off the cooperative thread pool.
    public func send(_ request: CurlRequest) async throws -> CurlResponse {
        try await BlockingIO.run { try self.perform(request) }
    }

    public func perform(_ request: CurlRequest) throws -> CurlResponse {
        let handle = checkout()
        var healthy = true
        defer {
            if healthy { checkin(handle) } else { curl_easy_cleanup(handle) }
        }
        curl_easy_reset(handle)
        let exchange = try Exchange(request)
        defer { exchange.close() }
        let context = Unmanaged.passUnretained(exchange).toOpaque()

        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        for (name, value) in request.headers { headerList = curl_slist_append(headerList, "\(name): \(value)") }
        // No "Expect: 100-continue" round trip before bodies.
        headerList = curl_slist_append(headerList, "Expect:")

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errors in
            var ok = true
            func set(_ result: CURLcode) { if result != CURLE_OK { ok = false } }
            set(rr_curl_setopt_string(handle, CURLOPT_URL, request.url))
            set(rr_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
            set(rr_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, connectTimeoutMilliseconds))
            set(rr_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1))
            set(rr_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, stallSeconds))
            set(rr_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errors.baseAddress))
            set(rr_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
            set(rr_curl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION, curlHeaderCallback))
            set(rr_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
            set(rr_curl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, curlWriteCallback))
            set(rr_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
            switch request.method {
            case "GET":
                break
            case "HEAD":
                set(rr_curl_setopt_long(handle, CURLOPT_NOBODY, 1))
            case "PUT", "POST":
                // Upload mode streams the body through the read callback; POST keeps it by name.
                set(rr_curl_setopt_long(handle, CURLOPT_UPLOAD, 1))
                set(rr_curl_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.count)))
                set(rr_curl_setopt_data_callback(handle, CURLOPT_READFUNCTION, curlReadCallback))
                set(rr_curl_setopt_pointer(handle, CURLOPT_READDATA, context))
                if request.method == "POST" { set(rr_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, "POST")) }
            default:
                set(rr_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method))
            }
            guard ok else { return CURLE_BAD_FUNCTION_ARGUMENT }
            return curl_easy_perform(handle)
        }
        if let failure = exchange.failure { healthy = false; throw failure }
        guard code == CURLE_OK else {
            healthy = false
            let detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CurlFailure(code: code, message: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
        }
        var status = 0
        _ = rr_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return CurlResponse(status: status, headers: exchange.headers, body: exchange.body)
    }
}

/// The state one transfer's callbacks share (passed to libcurl as an opaque pointer).
final class Exchange {
    let request: CurlRequest
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    var status = 0
    var failure: RRStoreError?
    private var sent = 0
    private var uploadFD: Int32 = -1
    private var downloadFD: Int32 = -1

    init(_ request: CurlRequest) throws {
        self.request = request
        if case .file(let path, _, _) = request.body {
            uploadFD = open(path, O_RDONLY | O_CLOEXEC)
            guard uploadFD >= 0 else { throw POSIXFailure.error("open", path: path) }
        }
    }

    func close() {
        if uploadFD >= 0 { _ = Glibc.close(uploadFD); uploadFD = -1 }
        if downloadFD >= 0 { _ = Glibc.close(downloadFD); downloadFD = -1 }
    }

    func read(into buffer: UnsafeMutablePointer<CChar>, max: Int) -> Int {
        switch request.body {
        case .none:
            return 0
        case .bytes(let bytes):
            let n = min(max, bytes.count - sent)
            if n > 0 { bytes.withUnsafeBytes { UnsafeMutableRawPointer(buffer).copyMemory(from: $0.baseAddress! + sent, byteCount: n) } }
            sent += n
            return n
        case .file(let path, let offset, let length):
            let wanted = min(max, length - sent)
            guard wanted > 0 else { return 0 }
            while true {
                let n = pread(uploadFD, buffer, wanted, off_t(offset + sent))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    failure = n == 0 ? RRStoreError(.io, "\(path) ended early while uploading it") : POSIXFailure.error("pread", path: path)
                    return Int(CURL_READFUNC_ABORT)
                }
                sent += n
                return n
            }
        }
    }

    func write(_ data: UnsafeRawBufferPointer) -> Int {
        if let path = request.downloadTo, (200..<300).contains(status) {
            if downloadFD < 0 {
                downloadFD = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard downloadFD >= 0 else { failure = POSIXFailure.error("open", path: path); return 0 }
            }
            var offset = 0
            while offset < data.count {
                let n = Glibc.write(downloadFD, data.baseAddress! + offset, data.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { failure = POSIXFailure.error("write", path: path); return 0 }
                offset += n
            }
        } else {
            body.append(contentsOf: data)
        }
        return data.count
    }

    func header(_ line: UnsafeRawBufferPointer) {
        // Trim CR/LF as bytes: to String, "\r\n" is one Character and hasSuffix("\r") misses it.
        var end = line.count
        while end > 0 && (line[end - 1] == 0x0D || line[end - 1] == 0x0A) { end -= 1 }
        let text = String(decoding: line[..<end], as: UTF8.self)
        if text.hasPrefix("HTTP/") {
            // A new status line (after 100 Continue or a redirect) starts a new header block.
            headers.removeAll()
            body.removeAll()
            status = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return
        }
        guard let colon = text.firstIndex(of: ":") else { return }
        let name = text[..<colon].lowercased()
        var rest = text[text.index(after: colon)...]
        while let first = rest.first, first == " " || first == "\t" { rest.removeFirst() }
        while let last = rest.last, last == " " || last == "\t" { rest.removeLast() }
        let value = String(rest)
        headers.append((name, value))
    }
}

private let curlHeaderCallback: rr_curl_data_callback = { buffer, size, count, userdata in
    let exchange = Unmanaged<Exchange>.fromOpaque(userdata!).takeUnretainedValue()
    exchange.header(UnsafeRawBufferPointer(start: buffer, count: size * count))
    return size * count
}

private let curlWriteCallback: rr_curl_data_callback = { buffer, size, count, userdata in
    let exchange = Unmanaged<Exchange>.fromOpaque(userdata!).takeUnretainedValue()
    return exchange.write(UnsafeRawBufferPointer(start: buffer, count: size * count))
}

private let curlReadCallback: rr_curl_data_callback = { buffer, size, count, userdata in
    let exchange = Unmanaged<Exchange>.fromOpaque(userdata!).takeUnretainedValue()
    return exchange.read(into: buffer!, max: size * count)
}
