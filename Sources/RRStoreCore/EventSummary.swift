/// What a recording's list row shows without reading its events: when it starts and ends
/// (the events' smallest and largest `timestamp`) and the first page it recorded (the
/// first Meta event's `data.href`). Built from events as they are appended; an event it
/// cannot read (not an object, no numeric timestamp) adds nothing, since the events are
/// stored as sent either way.
public struct EventSummary: Sendable, Equatable {
    /// Milliseconds since 1970, as the recorder wrote them.
    public var firstTimestamp: Int64?
    public var lastTimestamp: Int64?
    public var firstURL: String?

    /// The last event's time less the first's; nil without both, or past what an Int holds.
    public var durationMilliseconds: Int? {
        guard let firstTimestamp, let lastTimestamp else { return nil }
        let (duration, overflow) = lastTimestamp.subtractingReportingOverflow(firstTimestamp)
        return overflow ? nil : Int(exactly: duration)
    }

    /// URLs longer than this are cut: a list row needs no more.
    public static let maxURLBytes = 2048

    public init(firstTimestamp: Int64? = nil, lastTimestamp: Int64? = nil, firstURL: String? = nil) {
        self.firstTimestamp = firstTimestamp
        self.lastTimestamp = lastTimestamp
        self.firstURL = firstURL
    }

    public init(events: [[UInt8]]) {
        self.init()
        for event in events { add(event) }
    }

    public mutating func add(_ event: [UInt8]) {
        var visitor = Visitor()
        let parsed: Void? = event.withUnsafeBytes { bytes in
            visitor.bytes = bytes
            return try? JSONParser.parse(bytes, visitor: &visitor, maxDepth: 512)
        }
        guard parsed != nil, let timestamp = visitor.timestamp else { return }
        firstTimestamp = min(firstTimestamp ?? timestamp, timestamp)
        lastTimestamp = max(lastTimestamp ?? timestamp, timestamp)
        if firstURL == nil, visitor.type == 4, let href = visitor.href {
            firstURL = Self.cut(href)
        }
    }

    /// At most `maxURLBytes` of UTF-8, cut between characters (invalid bytes become U+FFFD).
    static func cut(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(Self.maxURLBytes * 4), as: UTF8.self)
        guard text.utf8.count > Self.maxURLBytes else { return text }
        var kept = 0
        let end = text.firstIndex { character in
            kept += character.utf8.count
            return kept > Self.maxURLBytes
        } ?? text.endIndex
        return String(text[..<end])
    }

    /// Reads the top level's `type` and `timestamp`, and `data.href`.
    struct Visitor: JSONVisitor {
        typealias ContainerContext = Void
        var bytes: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
        var depth = 0
        var key: Key = .other
        var inData = false
        var type: Int?
        var timestamp: Int64?
        var href: [UInt8]?

        enum Key { case type, timestamp, data, href, other }

        mutating func beginContainer(at offset: Int, isObject: Bool) throws {
            if depth == 1 { inData = isObject && key == .data }
            depth += 1
            key = .other
        }

        mutating func endContainer(_ context: Void, start: Int, end: Int, isObject: Bool, depth: Int) throws {
            self.depth -= 1
            if self.depth == 1 { inData = false }
            key = .other
        }

        mutating func key(start: Int, end: Int, hasEscapes: Bool) throws {
            key = .other
            guard !hasEscapes, end - start >= 2 else { return }
            let name = UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<(end - 1)])
            if depth == 1 {
                if name.elementsEqual("type".utf8) { key = .type }
                else if name.elementsEqual("timestamp".utf8) { key = .timestamp }
                else if name.elementsEqual("data".utf8) { key = .data }
            } else if depth == 2, inData, name.elementsEqual("href".utf8) {
                key = .href
            }
        }

        mutating func scalar(start: Int, end: Int) throws {
            defer { key = .other }
            guard depth == 1, key == .type || key == .timestamp else { return }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
            if key == .type { type = Int(text) } else { timestamp = Self.milliseconds(text) }
        }

        mutating func string(start: Int, end: Int, hasEscapes: Bool) throws {
            defer { key = .other }
            guard key == .href, depth == 2 else { return }
            let raw = UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<(end - 1)])
            var out: [UInt8] = []
            if hasEscapes {
                guard JSONStringCoding.unescapeCanonical(raw, into: &out) else { return }
            } else {
                out = Array(raw)
            }
            href = out
        }

        /// A whole number of milliseconds, or a fraction of one (rounded down); nothing
        /// outside what an Int64 holds.
        static func milliseconds(_ text: String) -> Int64? {
            if let whole = Int64(text) { return whole }
            guard let value = Double(text), value.isFinite, value >= -9.0e18, value <= 9.0e18 else { return nil }
            return Int64(value.rounded(.down))
        }
    }
}
