/// Reads a stream of events — one JSON array of events (`[{...}, {...}]`) or NDJSON /
/// concatenated JSON (`{...}\n{...}`), told apart by the first byte that is not
/// whitespace — fed in chunks of any size.
///
/// It does not scan events itself: for each one it hands the buffered bytes, starting at
/// the event's `{`, to a handler that parses exactly one value (`JSONParser.parsePrefix`,
/// e.g. through `Rewriter.rewritePrefix`) and returns its length. A handler that reaches
/// the end of the buffer throws `.truncatedInput`; the stream then waits until it holds
/// twice as many bytes and calls it again, so each byte is parsed about once (at most
/// twice) and memory stays near the largest event.
///
/// A handler that is called again for the same event must not count its first, failed
/// attempt: undo output, and treat asset writes as idempotent.
///
/// Noncopyable: it owns its buffer, which `fill` reads into directly (no copy per chunk).
public struct EventStream: ~Copyable {
    public enum Format: Sendable, Equatable { case undetermined, jsonArray, ndjson }

    private enum Position { case beforeInput, expectEventOrEnd, expectEvent, expectCommaOrEnd, afterArray }

    public private(set) var format: Format = .undetermined
    /// Events larger than this are rejected instead of buffered without bound.
    public let maxEventSize: Int
    public private(set) var eventCount = 0
    /// Whether a JSON string may stand where an event object does (events packed by
    /// rrweb's packer are strings); the handler is then given the string too.
    public let acceptsStrings: Bool

    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    private var count = 0            // bytes held in storage
    private var start = 0            // first unconsumed byte in storage
    private var consumedBefore = 0   // bytes dropped from the front of storage so far
    private var position: Position = .beforeInput
    private var retryAtCount = 0     // an incomplete event is retried once count reaches this

    public init(maxEventSize: Int = 64 << 20, acceptsStrings: Bool = false) {
        self.maxEventSize = maxEventSize
        self.acceptsStrings = acceptsStrings
        capacity = 64 << 10
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    public typealias Handler = (UnsafeRawBufferPointer) throws -> Int

    private var buffered: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: count) }

    /// Drops consumed bytes and makes room for `extra` more.
    private mutating func makeRoom(_ extra: Int) {
        if start > 0 {
            storage.copyMemory(from: storage + start, byteCount: count - start)
            count -= start
            consumedBefore += start
            retryAtCount = max(0, retryAtCount - start)
            start = 0
        }
        guard count + extra > capacity else { return }
        var newCapacity = capacity
        while count + extra > newCapacity { newCapacity *= 2 }
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newStorage.copyMemory(from: storage, byteCount: count)
        storage.deallocate()
        storage = newStorage
        capacity = newCapacity
    }

    /// Adds a chunk and calls `handler` for each event it completes.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ handler: Handler) throws {
        makeRoom(chunk.count)
        if chunk.count > 0 { (storage + count).copyMemory(from: chunk.baseAddress!, byteCount: chunk.count) }
        count += chunk.count
        guard count >= retryAtCount else { return }
        try drain(isFinal: false, handler)
    }

    /// Lets `read` write up to `chunkSize` bytes straight into the buffer (it returns how
    /// many; 0 at the end of the input), then calls `handler` for each event completed.
    /// Returns false at the end of the input.
    public mutating func fill(chunkSize: Int, read: (UnsafeMutableRawBufferPointer) throws -> Int, _ handler: Handler) throws -> Bool {
        makeRoom(chunkSize)
        let n = try read(UnsafeMutableRawBufferPointer(start: storage + count, count: chunkSize))
        guard n > 0 else { return false }
        count += n
        if count >= retryAtCount { try drain(isFinal: false, handler) }
        return true
    }

    public mutating func feed(_ chunk: [UInt8], _ handler: Handler) throws {
        try chunk.withUnsafeBytes { try feed($0, handler) }
    }

    /// Handles every event of an input held in memory whole (a mapped file, say), reading
    /// the events where they are: nothing is copied into the stream's buffer and no event
    /// is parsed twice. The stream must not have been fed before; call `finish` after.
    public mutating func feedWhole(_ input: UnsafeRawBufferPointer, _ handler: Handler) throws {
        precondition(count == 0 && consumedBefore == 0, "feedWhole takes the whole input, from the start")
        defer { consumedBefore = input.count }
        var consumed = 0
        try drain(input, from: &consumed, isFinal: true, handler)
    }

    /// Call at the end of the input: handles the last event and throws if the input ended
    /// inside an event or an array.
    public mutating func finish(_ handler: Handler) throws {
        try drain(isFinal: true, handler)
        if format == .jsonArray && position != .afterArray {
            throw RRStoreError(.truncatedInput, "the input ends before the JSON array's closing ']' (truncated file?)", offset: consumedBefore + count)
        }
    }

    private func error(_ message: String, at offset: Int) -> RRStoreError {
        RRStoreError(.invalidEvent, message, offset: consumedBefore + offset)
    }

    private mutating func drain(isFinal: Bool, _ handler: Handler) throws {
        var i = start
        defer { start = i }
        try drain(buffered, from: &i, isFinal: isFinal, handler)
    }

    /// Handles the events in `bytes` from offset `i` on, advancing `i` past each one.
    private mutating func drain(_ bytes: UnsafeRawBufferPointer, from i: inout Int, isFinal: Bool, _ handler: Handler) throws {
        let count = bytes.count
        while i < count {
            let c = bytes[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1; continue }
            switch (position, c) {
            case (.beforeInput, UInt8(ascii: "[")):
                format = .jsonArray
                position = .expectEventOrEnd
                i += 1
            case (.beforeInput, UInt8(ascii: "{")), (.beforeInput, UInt8(ascii: "\"")) where acceptsStrings:
                format = .ndjson
                position = .expectEvent
            case (.expectEventOrEnd, UInt8(ascii: "]")), (.expectCommaOrEnd, UInt8(ascii: "]")):
                position = .afterArray
                i += 1
            case (.expectCommaOrEnd, UInt8(ascii: ",")):
                position = .expectEvent
                i += 1
            case (.expectEventOrEnd, UInt8(ascii: "{")), (.expectEvent, UInt8(ascii: "{")),
                 (.expectEventOrEnd, UInt8(ascii: "\"")) where acceptsStrings, (.expectEvent, UInt8(ascii: "\"")) where acceptsStrings:
                guard let length = try handleEvent(bytes, at: i, isFinal: isFinal, handler) else { return }
                i += length
                eventCount += 1
                position = format == .jsonArray ? .expectCommaOrEnd : .expectEvent
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
    }

    /// The event's length, or nil if it is not complete in the buffer yet.
    private mutating func handleEvent(_ bytes: UnsafeRawBufferPointer, at offset: Int, isFinal: Bool, _ handler: Handler) throws -> Int? {
        let available = bytes.count - offset
        // The handler sees no more than an event may hold, so an oversized event costs no
        // more than the limit to refuse (a mapped file may hold gigabytes after it).
        let window = min(available, maxEventSize)
        do {
            let length = try handler(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + window)]))
            retryAtCount = 0
            return length
        } catch let error as RRStoreError where error.code == .truncatedInput && error.offset == window && window < available {
            throw tooLarge(at: offset)
        } catch let error as RRStoreError where error.code == .truncatedInput && error.offset == available && !isFinal {
            retryAtCount = offset + available * 2
            return nil
        } catch var error as RRStoreError where error.code == .truncatedInput && error.offset == available {
            error.message = "the input ends inside event \(eventCount + 1) (truncated file?)"
            error.offset = consumedBefore + bytes.count
            throw error
        } catch var error as RRStoreError {
            if let inner = error.offset { error.offset = consumedBefore + offset + inner }
            throw error
        }
    }

    private func tooLarge(at offset: Int) -> RRStoreError {
        RRStoreError(.tooLarge, "event \(eventCount + 1) is larger than the limit of \(maxEventSize) bytes", offset: consumedBefore + offset)
    }

    /// Splits a whole buffer into its events' bytes, validating each (tests, small bodies).
    public static func events(in bytes: [UInt8], maxDepth: Int = 512, acceptsStrings: Bool = false) throws -> [[UInt8]] {
        var stream = EventStream(acceptsStrings: acceptsStrings)
        var events: [[UInt8]] = []
        let handler: Handler = { remainder in
            var visitor = ValidatingVisitor()
            let length = try JSONParser.parsePrefix(remainder, visitor: &visitor, maxDepth: maxDepth)
            events.append(Array(remainder[..<length]))
            return length
        }
        try stream.feed(bytes, handler)
        try stream.finish(handler)
        return events
    }
}
