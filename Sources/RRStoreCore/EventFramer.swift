/// Splits a stream of bytes into events, without parsing them: either one JSON array of
/// events (`[{...}, {...}]`) or NDJSON / concatenated JSON (`{...}\n{...}`), told apart by
/// the first byte that is not whitespace.
///
/// Feed it chunks of any size; it hands out each complete event's exact bytes (without the
/// whitespace and commas around it) and keeps only the unfinished tail, so memory stays
/// near the largest event. It tracks just enough structure (strings, escapes, nesting) to
/// find where an event ends; the events themselves are validated by whoever reads them.
public struct EventFramer {
    public enum Format: Sendable, Equatable { case undetermined, jsonArray, ndjson }

    private enum Position { case beforeInput, expectEventOrEnd, expectEvent, expectCommaOrEnd, afterArray, inEvent }

    public private(set) var format: Format = .undetermined
    /// Events larger than this are rejected instead of buffered without bound.
    public let maxEventSize: Int
    /// Bytes consumed before the start of the buffer (for error offsets).
    public private(set) var consumedBytes = 0
    public private(set) var eventCount = 0

    private var buffer: [UInt8] = []
    private var scanned = 0          // offset in buffer scanned so far
    private var eventStart = 0       // offset in buffer of the current event's first byte
    private var position: Position = .beforeInput
    private var depth = 0
    private var inString = false

    public init(maxEventSize: Int = 64 << 20) {
        self.maxEventSize = maxEventSize
    }

    /// Adds a chunk and calls `body` with each event completed by it.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        // Drop what earlier calls consumed before growing the buffer.
        let keepFrom = position == .inEvent ? eventStart : scanned
        if keepFrom > 0 {
            buffer.removeFirst(keepFrom)
            consumedBytes += keepFrom
            scanned -= keepFrom
            eventStart -= keepFrom
        }
        buffer.append(contentsOf: chunk)
        try scan(body)
    }

    public mutating func feed(_ chunk: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try chunk.withUnsafeBytes { try feed($0, body) }
    }

    /// Call at the end of the input: throws if it ended inside an event or an array.
    public func finish() throws {
        switch position {
        case .inEvent:
            throw RRStoreError(.truncatedInput, "the input ends inside event \(eventCount + 1) (truncated file?)", offset: consumedBytes + buffer.count)
        case .expectEventOrEnd, .expectEvent, .expectCommaOrEnd:
            if format == .jsonArray {
                throw RRStoreError(.truncatedInput, "the input ends before the JSON array's closing ']' (truncated file?)", offset: consumedBytes + buffer.count)
            }
        case .beforeInput, .afterArray:
            break
        }
    }

    private func error(_ message: String, at offset: Int) -> RRStoreError {
        RRStoreError(.invalidEvent, message, offset: consumedBytes + offset)
    }

    private mutating func scan(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let count = buffer.count
        try buffer.withUnsafeBufferPointer { buf in
            let base = buf.baseAddress!
            var i = scanned
            defer { scanned = i }
            while i < count {
                if position == .inEvent {
                    if inString {
                        i = JSONScanner.skipPlainStringBytes(base, from: i, count: count)
                        guard i < count else { break }
                        if base[i] == UInt8(ascii: "\\") {
                            guard i + 1 < count else { break }  // the escaped byte is in the next chunk
                            i += 2
                            continue
                        }
                        if base[i] == UInt8(ascii: "\"") { inString = false }
                        i += 1  // a raw control character: left for the JSON scanner to reject
                        continue
                    }
                    let c = base[i]
                    i += 1
                    switch c {
                    case UInt8(ascii: "\""): inString = true
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            guard i - eventStart <= maxEventSize else { throw tooLarge(at: eventStart) }
                            eventCount += 1
                            try body(UnsafeRawBufferPointer(start: base + eventStart, count: i - eventStart))
                            position = format == .jsonArray ? .expectCommaOrEnd : .expectEvent
                        }
                    default: break
                    }
                    continue
                }
                let c = base[i]
                if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1; continue }
                switch (position, c) {
                case (.beforeInput, UInt8(ascii: "[")):
                    format = .jsonArray
                    position = .expectEventOrEnd
                    i += 1
                case (.beforeInput, UInt8(ascii: "{")):
                    format = .ndjson
                    position = .expectEvent
                case (.expectEventOrEnd, UInt8(ascii: "]")), (.expectCommaOrEnd, UInt8(ascii: "]")):
                    position = .afterArray
                    i += 1
                case (.expectCommaOrEnd, UInt8(ascii: ",")):
                    position = .expectEvent
                    i += 1
                case (.expectEventOrEnd, UInt8(ascii: "{")), (.expectEvent, UInt8(ascii: "{")):
                    position = .inEvent
                    eventStart = i
                    depth = 1
                    i += 1
                case (.afterArray, _):
                    throw error("unexpected data after the end of the JSON array of events", at: i)
                case (.expectCommaOrEnd, _):
                    throw error("expected ',' or ']' after event \(eventCount)", at: i)
                case (.beforeInput, _):
                    throw error("expected a JSON array of events ('[') or NDJSON events ('{'), found byte 0x\(String(c, radix: 16))", at: i)
                default:
                    throw error("event \(eventCount + 1) is not a JSON object", at: i)
                }
            }
            if position == .inEvent && i - eventStart > maxEventSize { throw tooLarge(at: eventStart) }
        }
    }

    private func tooLarge(at offset: Int) -> RRStoreError {
        RRStoreError(.tooLarge, "event \(eventCount + 1) is larger than the limit of \(maxEventSize) bytes", offset: consumedBytes + offset)
    }
}
