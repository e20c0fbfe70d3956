/// Events packed by rrweb's packer (`@rrweb/packer`): `pack(event)` is
/// `strFromU8(zlibSync(strToU8(JSON.stringify({...event, v: "v1"}))), true)`, a string
/// whose characters are the bytes of zlib data (Latin-1). Unpacked, the JSON text ends
/// with the `,"v":"v1"` member the packer appended; without it, it is exactly
/// `JSON.stringify(event)` as the recorder had it, so storing it loses nothing.
public enum PackedEvent {
    public static let mark = "v1"
    private static let markSuffix: [UInt8] = Array(#","v":"v1"}"#.utf8)

    /// Whether the JSON value (an element of an events array) is a string, i.e. packed.
    public static func isPacked(_ value: UnsafeRawBufferPointer) -> Bool {
        for byte in value {
            if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { continue }
            return byte == UInt8(ascii: "\"")
        }
        return false
    }

    /// The event's JSON text from a packed event given as a JSON string value (with its
    /// quotes). A string that holds plain JSON of an event (rrweb's unpacker accepts those
    /// too) is returned as that text.
    public static func unpack(_ jsonString: UnsafeRawBufferPointer, maxBytes: Int = 256 << 20) throws -> [UInt8] {
        let latin1 = try latin1Bytes(ofJSONString: jsonString)
        if let first = latin1.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }), first == UInt8(ascii: "{") {
            try latin1.withUnsafeBytes { try JSONBytes.validate($0) }
            return latin1
        }
        var text: [UInt8]
        do {
            text = try GzipDecoder.decompress(latin1, maxOutputBytes: maxBytes, wrapper: .zlib)
        } catch let error as RRStoreError where error.code == .invalidGzip {
            throw RRStoreError(.invalidEvent, "a string in place of an event is neither JSON nor zlib data packed by rrweb's packer (\(error.message))")
        }
        do {
            try text.withUnsafeBytes { try JSONBytes.validate($0) }
        } catch let error as RRStoreError {
            throw RRStoreError(.invalidEvent, "a packed event does not unpack to JSON: \(error.message)")
        }
        guard text.count > markSuffix.count + 1, text.last == UInt8(ascii: "}") else {
            throw RRStoreError(.invalidEvent, "a packed event does not unpack to a JSON object")
        }
        if text.suffix(markSuffix.count).elementsEqual(markSuffix) {
            text.removeLast(markSuffix.count)
            // `{"v":"v1"}` alone would leave `{`; every rrweb event has members before it.
            text.append(UInt8(ascii: "}"))
            return text
        }
        let members = try text.withUnsafeBytes { try JSONMembers.topLevel(in: $0) }
        if let version = members.first(where: { $0.key == "v" }) {
            let value = String(decoding: text[version.value], as: UTF8.self)
            // The event had a "v" of its own, which the spread kept in its place: the text
            // is what was packed, and is kept whole.
            if value == "\"\(mark)\"" { return text }
            throw RRStoreError(.invalidEvent, "this event was packed by packer \(value), not \"\(mark)\"; unpack it with that version of rrweb")
        }
        throw RRStoreError(.invalidEvent, "a packed event lacks the packer's \"v\" mark")
    }

    /// What rrweb's packer makes of an event's JSON text (an object): a JSON string value,
    /// quotes included, as `JSON.stringify` writes the packer's Latin-1 string.
    public static func pack(_ eventJSON: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        guard eventJSON.count > 2, eventJSON.last == UInt8(ascii: "}") else { throw RRStoreError(.invalidEvent, "only a JSON object with members can be packed") }
        let marked = eventJSON.dropLast() + markSuffix
        let zlib = try GzipEncoder.compress(Array(marked), level: level, wrapper: .zlib)
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.reserveCapacity(zlib.count * 2 + 2)
        for byte in zlib {
            switch byte {
            case 0x80...:
                out += [0xC0 | byte >> 6, 0x80 | (byte & 0x3F)]
            case 0x20..<0x80:
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            default:
                withUnsafeBytes(of: byte) { JSONStringCoding.appendEscaped($0, to: &out) }
            }
        }
        out.append(UInt8(ascii: "\""))
        return out
    }

    /// The characters of a JSON string as bytes; each must be U+0000...U+00FF.
    static func latin1Bytes(ofJSONString value: UnsafeRawBufferPointer) throws -> [UInt8] {
        var text = value[...]
        while let first = text.first, first != UInt8(ascii: "\"") { text = text.dropFirst() }
        while let last = text.last, last != UInt8(ascii: "\"") { text = text.dropLast() }
        guard text.count >= 2 else { throw RRStoreError(.invalidEvent, "expected a JSON string") }
        let raw = UnsafeRawBufferPointer(rebasing: text.dropFirst().dropLast())
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        func fail() -> RRStoreError {
            RRStoreError(.invalidEvent, "a packed event holds a character above U+00FF at byte \(i); it was not made by rrweb's packer", offset: i)
        }
        while i < raw.count {
            let byte = raw[i]
            if byte == UInt8(ascii: "\\") {
                guard i + 1 < raw.count else { throw fail() }
                switch raw[i + 1] {
                case UInt8(ascii: "u"):
                    guard i + 6 <= raw.count, let code = UInt32(String(decoding: raw[(i + 2)..<(i + 6)], as: UTF8.self), radix: 16) else { throw fail() }
                    guard code <= 0xFF else { throw fail() }
                    out.append(UInt8(code))
                    i += 6
                    continue
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case let other: out.append(other)  // \" \\ \/
                }
                i += 2
            } else if byte < 0x80 {
                out.append(byte)
                i += 1
            } else if (byte == 0xC2 || byte == 0xC3), i + 1 < raw.count {
                // U+0080...U+00FF in UTF-8.
                out.append((byte & 0x03) << 6 | (raw[i + 1] & 0x3F))
                i += 2
            } else {
                throw fail()
            }
        }
        return out
    }
}

/// The members of a JSON object, as byte ranges into the text.
public enum JSONMembers {
    public struct Member: Sendable {
        public var key: String
        /// The value's bytes, e.g. `"abc"` with its quotes, or `{...}`.
        public var value: Range<Int>
    }

    /// The top-level members of the object `bytes` holds (validated).
    public static func topLevel(in bytes: UnsafeRawBufferPointer) throws -> [Member] {
        var visitor = MemberVisitor(input: bytes, wantDepth: 1)
        try JSONParser.parse(bytes, visitor: &visitor)
        guard visitor.rootIsObject else { throw RRStoreError(.invalidJSON, "expected a JSON object") }
        return visitor.members.map { Member(key: $0.key, value: $0.value) }
    }

    /// The elements of the array `bytes` holds (validated).
    public static func elements(ofArray bytes: UnsafeRawBufferPointer) throws -> [Range<Int>] {
        var visitor = MemberVisitor(input: bytes, wantDepth: 1)
        try JSONParser.parse(bytes, visitor: &visitor)
        guard visitor.rootIsArray else { throw RRStoreError(.invalidJSON, "expected a JSON array") }
        return visitor.members.map(\.value)
    }

    /// Collects the values directly inside the root container (and the keys before them).
    private struct MemberVisitor: JSONVisitor {
        typealias ContainerContext = Void
        let input: UnsafeRawBufferPointer
        let wantDepth: Int
        var depth = 0
        var rootIsObject = false
        var rootIsArray = false
        var pendingKey = ""
        var valueStart: Int?
        var members: [(key: String, value: Range<Int>)] = []

        mutating func beginContainer(at offset: Int, isObject: Bool) throws {
            if depth == 0 {
                rootIsObject = isObject
                rootIsArray = !isObject
            } else if depth == wantDepth {
                valueStart = offset
            }
            depth += 1
        }

        mutating func endContainer(_ context: Void, start: Int, end: Int, isObject: Bool, depth: Int) throws {
            self.depth -= 1
            if depth == wantDepth, let valueStart { add(valueStart..<end) }
        }

        mutating func key(start: Int, end: Int, hasEscapes: Bool) throws {
            guard depth == wantDepth else { return }
            pendingKey = String(decoding: input[(start + 1)..<(end - 1)], as: UTF8.self)
        }

        mutating func string(start: Int, end: Int, hasEscapes: Bool) throws {
            if depth == wantDepth { add(start..<end) }
        }

        mutating func scalar(start: Int, end: Int) throws {
            if depth == wantDepth { add(start..<end) }
        }

        private mutating func add(_ range: Range<Int>) {
            members.append((pendingKey, range))
            valueStart = nil
        }
    }
}
