import Foundation
import Hummingbird
import NIOCore
import RRStoreCore

/// A small JSON writer for the service's answers: they are few and flat, and writing them
/// directly keeps numbers and strings exactly as meant without a Codable round trip.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    mutating func beginObject() { value(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma.removeLast() }
    mutating func beginArray() { value(); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma.removeLast() }

    mutating func key(_ name: String) {
        value()
        appendString(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    mutating func string(_ text: String) { value(); appendString(text) }

    /// `text` as a JSON string, appended to `out`.
    static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        var writer = JSONWriter()
        writer.string(text)
        out += writer.bytes
    }
    mutating func number(_ n: Int) { value(); bytes += Array(String(n).utf8) }
    mutating func bool(_ b: Bool) { value(); bytes += Array((b ? "true" : "false").utf8) }
    mutating func null() { value(); bytes += Array("null".utf8) }

    mutating func field(_ name: String, _ text: String?) {
        key(name)
        if let text { string(text) } else { null() }
    }
    mutating func field(_ name: String, _ n: Int) { key(name); number(n) }
    mutating func field(_ name: String, _ n: Int?) {
        key(name)
        if let n { number(n) } else { null() }
    }
    mutating func field(_ name: String, _ b: Bool) { key(name); bool(b) }

    private mutating func value() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func appendString(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        Array(text.utf8).withUnsafeBytes { JSONStringCoding.appendEscaped($0, to: &bytes) }
        bytes.append(UInt8(ascii: "\""))
    }

    func response(_ status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes + [UInt8(ascii: "\n")])))
    }
}

enum Timestamp {
    /// `2026-11-29T18:00:00.123Z` for milliseconds since 1970.
    static func iso8601(milliseconds: Int64) -> String {
        let ms = Int(((milliseconds % 1000) + 1000) % 1000)
        let c = CivilTime(secondsSince1970: Int((milliseconds - Int64(ms)) / 1000))
        func pad(_ n: Int, _ width: Int) -> String { CivilTime.padded(n, width) }
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2)).\(pad(ms, 3))Z"
    }
}

/// `[A-Za-z0-9._-]{1,128}`: tenants; recording ids and idempotency keys also allow `:`.
enum Identifier {
    /// A recording id: `[A-Za-z0-9._:-]{1,128}`, which takes the original client's
    /// `<ISO 8601 time>-<uuid>` (`2026-12-01T19:21:32.939Z-3c44…`). Each character is safe
    /// wherever an id goes: a URL path segment (`:` is a legal path character; `%3A` is
    /// decoded first), a blob key (`…/sessionId=<id>/…`: the segment starts with
    /// `sessionId=`, so `.` and `..` cannot name a directory, and there is no `/`), an S3
    /// key (SigV4 percent-encodes `:`), a file name on Linux filesystems, and a bound
    /// SQLite/PostgreSQL parameter. `/`, `%`, `\`, spaces, NUL and non-ASCII stay refused.
    static func isValidRecordingID(_ id: Substring) -> Bool {
        isValid(id, extra: UInt8(ascii: ":"))
    }

    static let recordingIDRule = "recording ids are 1 to 128 of A-Z a-z 0-9 . _ : -"

    static func isValid(_ id: Substring, extra: UInt8? = nil) -> Bool {
        let bytes = id.utf8
        guard (1...128).contains(bytes.count) else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == extra
        }
    }

    /// A path parameter with its percent-escapes undone (clients may encode `:` as `%3A`).
    static func parameter(_ name: String, _ context: RRStoreRequestContext) -> String {
        let raw = context.parameters.get(name) ?? ""
        guard raw.contains("%") else { return raw }
        return raw.removingPercentEncoding ?? raw
    }

    static func recording(_ context: RRStoreRequestContext) throws -> String {
        let id = parameter("id", context)
        guard isValidRecordingID(Substring(id)) else {
            throw APIError.badRequest("invalid_id", "\(recordingIDRule); got '\(id.prefix(140))'")
        }
        return id
    }
}
