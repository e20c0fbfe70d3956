/// One token of a JSON text, as byte offsets into the scanned buffer.
public struct JSONToken: Equatable, Sendable {
    public enum Kind: UInt8, Sendable {
        case beginObject, endObject, beginArray, endArray
        /// An object key (a string). `start` is its opening quote, `end` is past its closing quote.
        case key
        /// A string value. Offsets as for `key`.
        case string
        case number
        /// `true`, `false` or `null`.
        case literal
        /// The value is complete; nothing but whitespace followed it.
        case end
    }

    public var kind: Kind
    /// Offset of the token's first byte.
    public var start: Int
    /// Offset just past the token's last byte.
    public var end: Int
    /// For strings and keys: whether the raw text holds at least one backslash escape.
    public var hasEscapes: Bool

    /// For strings and keys: the range between the quotes.
    @inlinable public var contentRange: Range<Int> { (start + 1)..<(end - 1) }
}

/// A validating pull scanner over the bytes of one JSON value.
///
/// It builds nothing: each `next()` returns the next token's kind and byte span, so callers
/// can copy, hash or replace spans without the input ever being re-serialized. It enforces
/// the full JSON grammar (RFC 8259) — escapes, numbers, literals, commas and colons — and
/// reports the byte offset of the first error. Byte sequences inside strings are not
/// checked for UTF-8 validity: they are never decoded here, only copied or hashed.
public struct JSONScanner {
    private enum State: UInt8 {
        case value, valueOrEnd, key, keyOrEnd, colon, commaOrEnd, done
    }

    private let base: UnsafePointer<UInt8>
    private let count: Int
    public private(set) var position: Int
    private var state: State = .value
    /// true for an object level, false for an array level.
    private var stack: [Bool] = []
    public let maxDepth: Int

    /// The current nesting depth (0 outside any container).
    public var depth: Int { stack.count }

    /// `bytes` must stay valid while the scanner is used.
    public init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 512) {
        // An empty buffer still needs a valid pointer; a static one-byte buffer stands in.
        self.base = bytes.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? JSONScanner.emptyBase
        self.count = bytes.count
        self.position = 0
        self.maxDepth = maxDepth
        stack.reserveCapacity(64)
    }

    private nonisolated(unsafe) static let emptyBase: UnsafePointer<UInt8> = {  // never written
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.initialize(to: 0)
        return UnsafePointer(p)
    }()

    /// Scans a whole value and throws at its first error.
    public static func validate(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 512) throws {
        var scanner = JSONScanner(bytes, maxDepth: maxDepth)
        while try scanner.next().kind != .end {}
    }

    @inline(__always)
    private func error(_ message: String, at offset: Int) -> RRStoreError {
        RRStoreError(.invalidJSON, "invalid JSON: \(message)", offset: offset)
    }

    @inline(__always)
    private static func isWhitespace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09
    }

    public mutating func next() throws -> JSONToken {
        while true {
            while position < count, JSONScanner.isWhitespace(base[position]) { position += 1 }
            guard position < count else {
                if state == .done { return JSONToken(kind: .end, start: count, end: count, hasEscapes: false) }
                throw RRStoreError(.invalidJSON, "invalid JSON: the text ends inside a value (truncated?)", offset: count)
            }
            let c = base[position]
            switch state {
            case .done:
                throw error("unexpected '\(Character(Unicode.Scalar(c)))' after the end of the value", at: position)
            case .colon:
                guard c == UInt8(ascii: ":") else { throw error("expected ':' after an object key", at: position) }
                position += 1
                state = .value
            case .commaOrEnd:
                let inObject = stack.last!
                if c == UInt8(ascii: ",") {
                    position += 1
                    state = inObject ? .key : .value
                } else if c == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    return closeContainer(isObject: inObject)
                } else {
                    throw error(inObject ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array", at: position)
                }
            case .keyOrEnd, .key:
                if c == UInt8(ascii: "}") && state == .keyOrEnd { return closeContainer(isObject: true) }
                guard c == UInt8(ascii: "\"") else { throw error("expected a string key in an object", at: position) }
                let start = position
                let (end, escapes) = try scanString(from: position + 1)
                position = end
                state = .colon
                return JSONToken(kind: .key, start: start, end: end, hasEscapes: escapes)
            case .value, .valueOrEnd:
                if c == UInt8(ascii: "]") && state == .valueOrEnd { return closeContainer(isObject: false) }
                return try scanValue(c)
            }
        }
    }

    @inline(__always)
    private mutating func closeContainer(isObject: Bool) -> JSONToken {
        stack.removeLast()
        let start = position
        position += 1
        state = stack.isEmpty ? .done : .commaOrEnd
        return JSONToken(kind: isObject ? .endObject : .endArray, start: start, end: position, hasEscapes: false)
    }

    @inline(__always)
    private mutating func afterScalar() {
        state = stack.isEmpty ? .done : .commaOrEnd
    }

    private mutating func scanValue(_ c: UInt8) throws -> JSONToken {
        let start = position
        switch c {
        case UInt8(ascii: "\""):
            let (end, escapes) = try scanString(from: position + 1)
            position = end
            afterScalar()
            return JSONToken(kind: .string, start: start, end: end, hasEscapes: escapes)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard stack.count < maxDepth else {
                throw RRStoreError(.nestingTooDeep, "JSON nests deeper than \(maxDepth) levels", offset: position)
            }
            let isObject = c == UInt8(ascii: "{")
            stack.append(isObject)
            position += 1
            state = isObject ? .keyOrEnd : .valueOrEnd
            return JSONToken(kind: isObject ? .beginObject : .beginArray, start: start, end: position, hasEscapes: false)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            position = try scanNumber(from: position)
            afterScalar()
            return JSONToken(kind: .number, start: start, end: position, hasEscapes: false)
        case UInt8(ascii: "t"):
            try expectLiteral("true")
        case UInt8(ascii: "f"):
            try expectLiteral("false")
        case UInt8(ascii: "n"):
            try expectLiteral("null")
        default:
            throw error("unexpected byte 0x\(String(c, radix: 16)) where a value should start", at: position)
        }
        afterScalar()
        return JSONToken(kind: .literal, start: start, end: position, hasEscapes: false)
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let n = literal.utf8CodeUnitCount
        guard position + n <= count else { throw error("truncated literal", at: position) }
        let p = literal.utf8Start
        for i in 0..<n where base[position + i] != p[i] {
            throw error("invalid literal (expected \(literal))", at: position + i)
        }
        position += n
    }

    /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    private func scanNumber(from start: Int) throws -> Int {
        var i = start
        @inline(__always) func isDigit(_ i: Int) -> Bool { i < count && base[i] &- UInt8(ascii: "0") < 10 }
        if base[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { throw error("a number needs a digit here", at: i) }
        if base[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while isDigit(i) { i += 1 }
        }
        if i < count && base[i] == UInt8(ascii: ".") {
            i += 1
            guard isDigit(i) else { throw error("a number needs a digit after '.'", at: i) }
            while isDigit(i) { i += 1 }
        }
        if i < count && (base[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            if i < count && (base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-")) { i += 1 }
            guard isDigit(i) else { throw error("a number needs a digit in its exponent", at: i) }
            while isDigit(i) { i += 1 }
        }
        return i
    }

    /// Scans from just after an opening quote; returns the offset past the closing quote.
    @inline(__always)
    private func scanString(from contentStart: Int) throws -> (Int, Bool) {
        var i = contentStart
        var escapes = false
        while true {
            i = JSONScanner.skipPlainStringBytes(base, from: i, count: count)
            guard i < count else {
                throw RRStoreError(.invalidJSON, "invalid JSON: unterminated string", offset: contentStart - 1)
            }
            let c = base[i]
            if c == UInt8(ascii: "\"") { return (i + 1, escapes) }
            if c == UInt8(ascii: "\\") {
                escapes = true
                i = try scanEscape(at: i)
            } else {
                throw error("control character 0x\(String(c, radix: 16)) must be escaped inside a string", at: i)
            }
        }
    }

    private func scanEscape(at i: Int) throws -> Int {
        guard i + 1 < count else { throw RRStoreError(.invalidJSON, "invalid JSON: unterminated string", offset: i) }
        switch base[i + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
             UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return i + 2
        case UInt8(ascii: "u"):
            guard i + 6 <= count else { throw error("truncated \\u escape", at: i) }
            for k in 2..<6 where HexDigits.value(ofAnyCase: base[i + k]) == nil {
                throw error("\\u must be followed by four hex digits", at: i + k)
            }
            return i + 6
        default:
            throw error("invalid escape '\\\(Character(Unicode.Scalar(base[i + 1])))'", at: i)
        }
    }

    /// Skips bytes that need no attention inside a string (anything but '"', '\' and
    /// control characters), eight at a time, and returns the offset of the first byte
    /// that does need it, or `count`.
    @inline(__always)
    static func skipPlainStringBytes(_ base: UnsafePointer<UInt8>, from start: Int, count: Int) -> Int {
        var i = start
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while i + 8 <= count {
            let w = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
            let quote = w ^ (ones &* 0x22)
            let backslash = w ^ (ones &* 0x5C)
            // Classic "has a zero byte" / "has a byte below n" tests; the lowest flagged
            // byte is always exact, which is all that is used.
            let flags = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((w &- ones &* 0x20) & ~w)
            let hits = flags & highs
            if hits != 0 { return i + (hits.trailingZeroBitCount >> 3) }
            i += 8
        }
        while i < count {
            let c = base[i]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 { return i }
            i += 1
        }
        return count
    }
}
