/// Receives the structure of a JSON value from `JSONParser`, as byte offsets into the
/// parsed buffer. Conforming types are generic parameters of the parser, so the calls are
/// specialized and inlined: no tokens are built, nothing is allocated per value.
public protocol JSONVisitor {
    /// Context the visitor wants back when the container closes (e.g. an output offset).
    associatedtype ContainerContext
    /// A `{` or `[` at `offset`.
    mutating func beginContainer(at offset: Int, isObject: Bool) throws -> ContainerContext
    /// The container that began at `start` ends just before `end`; `depth` is the number of
    /// containers still open around it (0 for the outermost value).
    mutating func endContainer(_ context: ContainerContext, start: Int, end: Int, isObject: Bool, depth: Int) throws
    /// An object key; `start` is its opening quote, `end` is past its closing quote.
    mutating func key(start: Int, end: Int, hasEscapes: Bool) throws
    /// A string value; offsets as for keys.
    mutating func string(start: Int, end: Int, hasEscapes: Bool) throws
    /// A number, `true`, `false` or `null`.
    mutating func scalar(start: Int, end: Int) throws
    /// Called at a `{` or `[` inside `depth` open containers before the parser enters it:
    /// a visitor that already knows the value these bytes hold (and has handled it) returns
    /// the offset just past it, and the parser steps over it unchecked. The visitor vouches
    /// that the bytes are one valid value no deeper than the limit allows.
    mutating func knownContainer(at offset: Int, depth: Int) throws -> Int?
}

extension JSONVisitor where ContainerContext == Void {
    public mutating func beginContainer(at offset: Int, isObject: Bool) throws {}
}

extension JSONVisitor {
    public mutating func endContainer(_ context: ContainerContext, start: Int, end: Int, isObject: Bool, depth: Int) throws {}
    public mutating func key(start: Int, end: Int, hasEscapes: Bool) throws {}
    public mutating func string(start: Int, end: Int, hasEscapes: Bool) throws {}
    public mutating func scalar(start: Int, end: Int) throws {}
    @inline(__always)
    public mutating func knownContainer(at offset: Int, depth: Int) throws -> Int? { nil }
}

/// A validating recursive-descent JSON parser that builds nothing: it walks the bytes once
/// and tells a visitor where every key, value and container is.
///
/// It enforces the whole grammar of RFC 8259 — escapes (lone surrogates are valid JSON and
/// accepted), numbers, literals, commas, colons — and reports the byte offset of the first
/// error. Input that ends inside the value throws `.truncatedInput` with the offset of the
/// end, which lets a stream reader tell "needs more bytes" from "invalid". Bytes inside
/// strings are not checked for UTF-8 validity: they are never decoded here, only copied or
/// hashed. Recursion depth is bounded by `maxDepth`.
public struct JSONParser<Visitor: JSONVisitor> {
    // The read position is passed into and returned from each step rather than kept in
    // the struct: it stays in a register instead of being stored and reloaded around every
    // call (a measurable share of the per-token cost). Offsets only grow within the
    // buffer's bounds, so wrapping arithmetic (`&+`) cannot overflow.
    // The depth is passed the same way, so the parser itself never changes: copying or
    // storing it around calls cost more than the parse of a short string.
    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let count: Int
    @usableFromInline let maxDepth: Int
    /// Whether the buffer's end is the input's end (a number may end there).
    @usableFromInline let isFinal: Bool

    /// Parses the value in `bytes`; only whitespace may follow it.
    public static func parse(_ bytes: UnsafeRawBufferPointer, visitor: inout Visitor, maxDepth: Int = 512) throws {
        let parser = JSONParser(bytes, maxDepth: maxDepth, isFinal: true)
        let end = parser.skipWhitespace(from: try parser.parseValue(at: 0, depth: 0, &visitor))
        if end < parser.count {
            throw parser.invalid("unexpected data after the end of the value", at: end)
        }
    }

    /// Parses the value that starts `bytes` (after optional whitespace) and returns the
    /// offset just past it; whatever follows is left alone. Unless `isFinal`, more bytes
    /// may follow the buffer, so a value that reaches its end throws `.truncatedInput`.
    public static func parsePrefix(_ bytes: UnsafeRawBufferPointer, visitor: inout Visitor, maxDepth: Int = 512, isFinal: Bool = false) throws -> Int {
        let parser = JSONParser(bytes, maxDepth: maxDepth, isFinal: isFinal)
        return try parser.parseValue(at: 0, depth: 0, &visitor)
    }

    init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int, isFinal: Bool) {
        base = bytes.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? JSONBytes.emptyBase
        count = bytes.count
        self.maxDepth = maxDepth
        self.isFinal = isFinal
    }

    @inline(never)
    func invalid(_ message: String, at offset: Int) -> RRStoreError {
        RRStoreError(.invalidJSON, "invalid JSON: \(message)", offset: offset)
    }

    @inline(never)
    func truncated() -> RRStoreError {
        RRStoreError(.truncatedInput, "the JSON text ends inside a value (truncated?)", offset: count)
    }

    @inline(__always)
    func skipWhitespace(from start: Int) -> Int {
        var p = start
        while p < count {
            let c = base[p]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return p }
            p &+= 1
        }
        return p
    }

    /// The offset of the next byte that is not whitespace, at or after `p`.
    @inline(__always)
    func nextToken(_ p: Int) throws -> Int {
        if p < count && base[p] > 0x20 { return p }
        let q = skipWhitespace(from: p)
        guard q < count else { throw truncated() }
        return q
    }

    /// Parses the value at or after `p` (after whitespace), inside `depth` open containers;
    /// returns the offset past it.
    func parseValue(at p: Int, depth: Int, _ visitor: inout Visitor) throws -> Int {
        let start = try nextToken(p)
        switch base[start] {
        case UInt8(ascii: "\""):
            let (end, escapes) = try scanString(at: start)
            try visitor.string(start: start, end: end, hasEscapes: escapes)
            return end
        case UInt8(ascii: "{"):
            if let end = try visitor.knownContainer(at: start, depth: depth) { return end }
            return try parseObject(at: start, depth: depth, &visitor)
        case UInt8(ascii: "["):
            if let end = try visitor.knownContainer(at: start, depth: depth) { return end }
            return try parseArray(at: start, depth: depth, &visitor)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let end = try scanNumber(at: start)
            try visitor.scalar(start: start, end: end)
            return end
        case UInt8(ascii: "t"):
            let end = try expectLiteral("true", at: start)
            try visitor.scalar(start: start, end: end)
            return end
        case UInt8(ascii: "f"):
            let end = try expectLiteral("false", at: start)
            try visitor.scalar(start: start, end: end)
            return end
        case UInt8(ascii: "n"):
            let end = try expectLiteral("null", at: start)
            try visitor.scalar(start: start, end: end)
            return end
        default:
            throw invalid("unexpected byte 0x\(String(base[start], radix: 16)) where a value should start", at: start)
        }
    }

    @inline(__always)
    func enter(at p: Int, depth: Int) throws {
        guard depth < maxDepth else {
            throw RRStoreError(.nestingTooDeep, "JSON nests deeper than \(maxDepth) levels", offset: p)
        }
    }

    /// The object whose `{` is at `start`; returns the offset past its `}`.
    func parseObject(at start: Int, depth: Int, _ visitor: inout Visitor) throws -> Int {
        try enter(at: start, depth: depth)
        let context = try visitor.beginContainer(at: start, isObject: true)
        var p = try nextToken(start &+ 1)
        if base[p] != UInt8(ascii: "}") {
            while true {
                guard base[p] == UInt8(ascii: "\"") else { throw invalid("expected a string key in an object", at: p) }
                let (keyEnd, escapes) = try scanString(at: p)
                try visitor.key(start: p, end: keyEnd, hasEscapes: escapes)
                p = try nextToken(keyEnd)
                guard base[p] == UInt8(ascii: ":") else { throw invalid("expected ':' after an object key", at: p) }
                p = try nextToken(try parseValue(at: p &+ 1, depth: depth &+ 1, &visitor))
                let c = base[p]
                p &+= 1
                if c == UInt8(ascii: ",") { p = try nextToken(p); continue }
                if c == UInt8(ascii: "}") { break }
                throw invalid("expected ',' or '}' in an object", at: p &- 1)
            }
        } else {
            p &+= 1
        }
        try visitor.endContainer(context, start: start, end: p, isObject: true, depth: depth)
        return p
    }

    /// The array whose `[` is at `start`; returns the offset past its `]`.
    func parseArray(at start: Int, depth: Int, _ visitor: inout Visitor) throws -> Int {
        try enter(at: start, depth: depth)
        let context = try visitor.beginContainer(at: start, isObject: false)
        var p = try nextToken(start &+ 1)
        if base[p] != UInt8(ascii: "]") {
            while true {
                p = try nextToken(try parseValue(at: p, depth: depth &+ 1, &visitor))
                let c = base[p]
                p &+= 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "]") { break }
                throw invalid("expected ',' or ']' in an array", at: p &- 1)
            }
        } else {
            p &+= 1
        }
        try visitor.endContainer(context, start: start, end: p, isObject: false, depth: depth)
        return p
    }

    func expectLiteral(_ literal: StaticString, at p: Int) throws -> Int {
        let n = literal.utf8CodeUnitCount
        let l = literal.utf8Start
        for i in 0..<n {
            guard p &+ i < count else { throw truncated() }
            guard base[p &+ i] == l[i] else { throw invalid("invalid literal (expected \(literal))", at: p &+ i) }
        }
        return p &+ n
    }

    /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    func scanNumber(at p: Int) throws -> Int {
        @inline(__always) func digit(_ i: Int) -> Bool { i < count && base[i] &- UInt8(ascii: "0") < 10 }
        @inline(__always) func needDigit(_ i: Int, _ what: String) throws {
            guard i < count else { throw truncated() }
            guard base[i] &- UInt8(ascii: "0") < 10 else { throw invalid("a number needs a digit \(what)", at: i) }
        }
        var i = p
        if base[i] == UInt8(ascii: "-") { i &+= 1 }
        try needDigit(i, "here")
        if base[i] == UInt8(ascii: "0") {
            i &+= 1
        } else {
            while digit(i) { i &+= 1 }
        }
        if i < count && base[i] == UInt8(ascii: ".") {
            i &+= 1
            try needDigit(i, "after '.'")
            while digit(i) { i &+= 1 }
        }
        if i < count && (base[i] | 0x20) == UInt8(ascii: "e") {
            i &+= 1
            if i < count && (base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-")) { i &+= 1 }
            try needDigit(i, "in its exponent")
            while digit(i) { i &+= 1 }
        }
        // A number at the very end may go on in bytes not yet read.
        if i == count && !isFinal { throw truncated() }
        return i
    }

    /// Scans the string whose opening quote is at `open`; returns the offset past the
    /// closing quote and whether it holds escapes.
    @inline(__always)
    func scanString(at open: Int) throws -> (end: Int, hasEscapes: Bool) {
        var i = open &+ 1
        var escapes = false
        while true {
            i = JSONBytes.skipPlainStringBytes(base, from: i, count: count)
            guard i < count else { throw truncated() }
            let c = base[i]
            if c == UInt8(ascii: "\"") { return (i &+ 1, escapes) }
            if c == UInt8(ascii: "\\") {
                escapes = true
                i = try scanEscape(at: i)
            } else {
                throw controlCharacter(c, at: i, stringStart: open)
            }
        }
    }

    @inline(never)
    func controlCharacter(_ c: UInt8, at i: Int, stringStart: Int) -> RRStoreError {
        invalid("control character 0x\(String(c, radix: 16)) must be escaped inside a string (the string starts at byte \(stringStart))", at: i)
    }

    func scanEscape(at i: Int) throws -> Int {
        guard i &+ 1 < count else { throw truncated() }
        switch base[i &+ 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
             UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return i &+ 2
        case UInt8(ascii: "u"):
            for k in 2..<6 {
                guard i &+ k < count else { throw truncated() }
                guard HexDigits.value(ofAnyCase: base[i &+ k]) != nil else {
                    throw invalid("\\u must be followed by four hex digits", at: i &+ k)
                }
            }
            return i &+ 6
        default:
            throw invalid("invalid escape '\\\(Character(Unicode.Scalar(base[i &+ 1])))'", at: i)
        }
    }
}

/// A visitor that only validates.
public struct ValidatingVisitor: JSONVisitor {
    public typealias ContainerContext = Void
    public init() {}
}

public enum JSONBytes {
    /// Throws at the first error if `bytes` is not exactly one JSON value.
    public static func validate(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 512) throws {
        var visitor = ValidatingVisitor()
        try JSONParser.parse(bytes, visitor: &visitor, maxDepth: maxDepth)
    }

    // An empty buffer still needs a valid pointer; a static byte stands in. Never written.
    nonisolated(unsafe) static let emptyBase: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.initialize(to: 0)
        return UnsafePointer(p)
    }()

    /// Skips bytes that need no attention inside a string (anything but '"', '\' and
    /// control characters), eight at a time, and returns the offset of the first byte
    /// that does need it, or `count`.
    @inline(__always)
    public static func skipPlainStringBytes(_ base: UnsafePointer<UInt8>, from start: Int, count: Int) -> Int {
        var i = start
        // Sixteen bytes at a time with SIMD compares (SSE2/NEON); the exact byte is found below.
        let quotes = SIMD16<UInt8>(repeating: 0x22), backslashes = SIMD16<UInt8>(repeating: 0x5C)
        let space = SIMD16<UInt8>(repeating: 0x20)
        while i + 16 <= count {
            let v = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<UInt8>.self)
            let hits = (v .== quotes) .| (v .== backslashes) .| (v .< space)
            if any(hits) {
                // A mask lane is all ones where it hit: read it as two words and count.
                let words = unsafeBitCast(hits, to: SIMD2<UInt64>.self)
                let low = UInt64(littleEndian: words[0]), high = UInt64(littleEndian: words[1])
                return low != 0 ? i + (low.trailingZeroBitCount >> 3) : i + 8 + (high.trailingZeroBitCount >> 3)
            }
            i += 16
        }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while i + 8 <= count {
            let w = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
            let quote = w ^ (ones &* 0x22)
            let backslash = w ^ (ones &* 0x5C)
            // The classic "has a zero byte" / "has a byte below n" tests; their lowest flagged
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
