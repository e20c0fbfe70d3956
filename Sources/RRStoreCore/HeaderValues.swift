/// Parsers for the HTTP header values the service acts on. They take request bytes, so
/// they never trap: every number is parsed and combined with checked arithmetic, every
/// index is bounds-checked, and anything unexpected is `nil` (the caller answers 4xx).
/// Pure, so the fuzz targets reach them without the server.
public enum HeaderValues {
    /// The essence of a media type (`type/subtype`, lowercased, parameters and white space
    /// dropped): `"Application/JSON; charset=utf-8"` → `"application/json"`. An empty or
    /// blank value (`Content-Type;`, `Content-Type: ;`) is `""`, which no route accepts.
    public static func mediaTypeEssence(_ value: String) -> String {
        let essence = value.utf8.prefix { $0 != UInt8(ascii: ";") }
        return String(decoding: essence, as: UTF8.self).trimmingSpaces().lowercased()
    }

    /// Whether an `Accept-Encoding` value accepts gzip (an explicit `q=0` refuses it).
    public static func acceptsGzip(_ value: String) -> Bool {
        value.lowercased().split(separator: ",").contains { item in
            let parts = item.split(separator: ";", omittingEmptySubsequences: false).map { String($0).trimmingSpaces() }
            guard parts.first == "gzip" || parts.first == "x-gzip" else { return false }
            return !parts.dropFirst().contains { part in
                let compact = part.filter { $0 != " " }
                guard compact.hasPrefix("q=") else { return false }
                return Double(compact.dropFirst(2)).map { !($0 > 0) } ?? false
            }
        }
    }

    /// How an asset of the stored media type is served so that it stays inert on the
    /// service's origin: types a browser would run script in (HTML, XML, JavaScript, and
    /// anything unknown or malformed) go out as `application/octet-stream`; SVG keeps its
    /// type (an `<img>` needs it, and script does not run there) but, like everything
    /// served, with a sandboxing Content-Security-Policy, and as an attachment when opened
    /// directly. Images, fonts, audio, video, CSS and plain text keep their type.
    public static func servedMediaType(_ stored: String?) -> (contentType: String, attachment: Bool) {
        let essence = stored.map(mediaTypeEssence) ?? ""
        let parts = essence.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let kind = parts.first, let subtype = parts.last, !kind.isEmpty, !subtype.isEmpty,
              essence.utf8.allSatisfy({ tokenByte($0) || $0 == UInt8(ascii: "/") }) else {
            return ("application/octet-stream", false)
        }
        if essence == "image/svg+xml" { return (essence, true) }
        if subtype.contains("xml") || subtype.contains("html") || subtype.contains("script") { return ("application/octet-stream", true) }
        switch kind {
        case "image", "font", "audio", "video": return (essence, false)
        case "text" where subtype == "css" || subtype == "plain": return (essence, false)
        case "application" where ["json", "octet-stream", "font-woff", "font-woff2", "x-font-ttf", "vnd.ms-fontobject", "pdf", "zip", "gzip", "wasm"].contains(subtype):
            return (essence, subtype == "pdf")
        default: return ("application/octet-stream", true)
        }
    }

    /// RFC 9110 token characters.
    static func tokenByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }

    /// A non-negative decimal integer of at most 18 digits (so it fits `Int` with room to
    /// add to), as `Content-Length` and range bounds are; nil otherwise.
    public static func decimal<S: StringProtocol>(_ text: S) -> Int? {
        let digits = text.utf8
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value = 0
        for c in digits {
            let d = Int(c) &- 48
            guard d >= 0 && d <= 9 else { return nil }
            value = value * 10 + d  // cannot overflow: at most 18 digits
        }
        return value
    }
}

/// One `bytes=` range of RFC 9110 §14.1.2 (`a-b`, `a-`, `-n`) resolved against a size;
/// several ranges are not served (the whole body is then sent instead by most servers,
/// but an asset reader never asks for several). Bounds past the end are clamped, numbers
/// of any length are handled without overflow (a bound too large to be a real offset is
/// past any end), and what cannot be satisfied is nil.
public struct ByteRange: Equatable, Sendable {
    public var range: Range<Int>

    public init?(header: String, size: Int) {
        guard size >= 0 else { return nil }
        var text = header.trimmingSpaces()
        guard text.lowercased().hasPrefix("bytes=") else { return nil }
        text = text.dropFirst("bytes=".count).trimmingSpaces()
        guard !text.contains(","), let dash = text.firstIndex(of: "-") else { return nil }
        let first = text[..<dash].trimmingSpaces(), last = text[text.index(after: dash)...].trimmingSpaces()
        if first.isEmpty {
            // The last n bytes; n beyond the size means all of them.
            guard Self.allDigits(last), size > 0 else { return nil }
            let suffix = HeaderValues.decimal(last) ?? Int.max
            guard suffix > 0 else { return nil }
            range = (suffix >= size ? 0 : size - suffix)..<size
            return
        }
        guard Self.allDigits(first), let start = HeaderValues.decimal(first), start < size else { return nil }
        if last.isEmpty {
            range = start..<size
            return
        }
        guard Self.allDigits(last) else { return nil }
        // An end too long to parse lies past any real size: clamp it.
        let end = HeaderValues.decimal(last) ?? Int.max
        guard end >= start else { return nil }
        range = start..<(end >= size - 1 ? size : end + 1)
    }

    private static func allDigits(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (HTTP's optional white space).
    public func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) }) ?? start
        return String(self[start...end])
    }
}
