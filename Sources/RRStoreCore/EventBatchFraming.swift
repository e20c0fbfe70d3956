/// Where the events of a POST body are: the whole body (a JSON array or NDJSON), the
/// `events` array of `{"events": [...]}`, or the single `rrwebEvent` of the original
/// browser client's `{"sessionId", "rrwebEvent", "sequence"}`.
public enum EventBatchFraming {
    /// Where a body's events are, and the original client's `sequence` when the body is
    /// its envelope (its place in the page's order: posts overlap and may arrive out of it).
    public struct Located: Equatable, Sendable {
        public var range: Range<Int>
        public var sequence: Int?
        public init(range: Range<Int>, sequence: Int? = nil) { self.range = range; self.sequence = sequence }
    }

    /// The byte range of the body that holds the events, as a JSON array or NDJSON.
    public static func eventsRange(in body: UnsafeRawBufferPointer, isNDJSON: Bool, recording: String) throws -> Range<Int> {
        try locate(in: body, isNDJSON: isNDJSON, recording: recording).range
    }

    /// The events' byte range and the envelope's `sequence`, if any (a non-negative integer
    /// of at most 15 digits; anything else is refused, not guessed at).
    public static func locate(in body: UnsafeRawBufferPointer, isNDJSON: Bool, recording: String) throws -> Located {
        guard let first = body.firstIndex(where: { !isWhitespace($0) }) else {
            throw RRStoreError(.invalidEvent, "the body holds no events; send a JSON array of events, {\"events\": [...]}, or NDJSON")
        }
        // NDJSON, or a JSON array: the stream reads them as they are.
        guard body[first] == UInt8(ascii: "{"), !isNDJSON else { return Located(range: first..<body.count) }
        var visitor = TopLevelFields(input: body)
        let end = try JSONParser.parsePrefix(body, visitor: &visitor, maxDepth: 1024)
        if body[end...].contains(where: { !isWhitespace($0) }) {
            // Several objects one after another: NDJSON sent as application/json.
            return Located(range: first..<body.count)
        }
        if let events = visitor.fields["events"] {
            guard body[events.lowerBound] == UInt8(ascii: "[") else {
                throw RRStoreError(.invalidEvent, "\"events\" must be an array of events")
            }
            return Located(range: events, sequence: try sequence(visitor.fields["sequence"], in: body))
        }
        if let event = visitor.fields["rrwebEvent"] {
            if let session = visitor.fields["sessionId"] {
                let raw = body[session]
                let expected = Array("\"\(recording)\"".utf8)
                guard raw.elementsEqual(expected) else {
                    throw RRStoreError(.invalidEvent, "sessionId \(String(decoding: raw.prefix(140), as: UTF8.self)) differs from the recording in the path ('\(recording)')")
                }
            }
            guard body[event.lowerBound] == UInt8(ascii: "{") else {
                throw RRStoreError(.invalidEvent, "\"rrwebEvent\" must be an event object")
            }
            return Located(range: event, sequence: try sequence(visitor.fields["sequence"], in: body))
        }
        if visitor.fields["type"] != nil {
            return Located(range: first..<body.count)  // one bare event
        }
        throw RRStoreError(.invalidEvent, "expected a JSON array of events, {\"events\": [...]}, {\"sessionId\", \"rrwebEvent\"}, an event object, or NDJSON")
    }

    private static func sequence(_ range: Range<Int>?, in body: UnsafeRawBufferPointer) throws -> Int? {
        guard let range else { return nil }
        let digits = UnsafeRawBufferPointer(rebasing: body[range])
        guard let sequence = envelopeSequence(digits) else {
            throw RRStoreError(.invalidEvent, "\"sequence\" must be a non-negative integer (the event's place in the page's order), not \(String(decoding: digits.prefix(40), as: UTF8.self))")
        }
        return sequence
    }

    /// The original client's envelope `sequence` from a JSON value's bytes: a plain
    /// non-negative integer of at most 15 digits (so it fits an Int with room to spare);
    /// nil for anything else (a sign, a fraction, an exponent, a string, null).
    public static func envelopeSequence(_ value: UnsafeRawBufferPointer) -> Int? {
        guard (1...15).contains(value.count), value.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    @inline(__always)
    public static func isWhitespace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    /// Records the byte range of each value of the outermost object, by key (keys compared
    /// as raw bytes: the fields we look for need no escapes).
    private struct TopLevelFields: JSONVisitor {
        typealias ContainerContext = Void
        let input: UnsafeRawBufferPointer
        var fields: [String: Range<Int>] = [:]
        var open = 0
        var currentKey: String?
        var valueStart = 0

        mutating func beginContainer(at offset: Int, isObject: Bool) throws {
            if open == 1 { valueStart = offset }
            open += 1
        }

        mutating func endContainer(_ context: Void, start: Int, end: Int, isObject: Bool, depth: Int) throws {
            open -= 1
            if open == 1, let key = currentKey { fields[key] = start..<end; currentKey = nil }
        }

        mutating func key(start: Int, end: Int, hasEscapes: Bool) throws {
            if open == 1 { currentKey = String(decoding: input[(start + 1)..<(end - 1)], as: UTF8.self) }
        }

        mutating func string(start: Int, end: Int, hasEscapes: Bool) throws { value(start, end) }
        mutating func scalar(start: Int, end: Int) throws { value(start, end) }

        private mutating func value(_ start: Int, _ end: Int) {
            if open == 1, let key = currentKey { fields[key] = start..<end; currentKey = nil }
        }
    }
}
