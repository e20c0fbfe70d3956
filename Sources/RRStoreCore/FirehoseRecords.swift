/// The records of the original pipeline's Kinesis Firehose objects: JSON objects one after
/// another (newline-separated, or not separated at all, as Firehose concatenates records),
/// each `{"sessionId": "...", "rrwebEvent": {...}}` or `{"sessionId": "...", "events": [...]}`
/// (other members are ignored), with the original client's `sequence` when it is there.
public enum FirehoseRecords {
    public struct Record: Sendable {
        public var sessionID: String?
        /// Each event's JSON (an object, or a string if packed by rrweb's packer).
        public var events: [[UInt8]]
        /// The original client's envelope number (a non-negative integer), if the record has one.
        public var sequence: Int?
    }

    /// A session's events in the client's order. Firehose keeps the order records arrived
    /// in, and the original client's posts overlap; so when every record carries its
    /// `sequence`, they are ordered by it, and a record repeated exactly under the same
    /// number (Firehose delivers at least once) counts once. Otherwise (records without
    /// one: other producers) the order given is kept.
    public static func eventsInClientOrder(_ records: [Record]) -> [[UInt8]] {
        let numbered = records.enumerated().compactMap { index, record in record.sequence.map { (sequence: $0, index: index, record: record) } }
        guard !records.isEmpty, numbered.count == records.count else { return records.flatMap(\.events) }
        var events: [[UInt8]] = []
        var previous: (sequence: Int, events: [[UInt8]])?
        for entry in numbered.sorted(by: { ($0.sequence, $0.index) < ($1.sequence, $1.index) }) {
            if let previous, previous.sequence == entry.sequence, previous.events == entry.record.events { continue }
            events += entry.record.events
            previous = (entry.sequence, entry.record.events)
        }
        return events
    }

    public static func records(in object: [UInt8]) throws -> [Record] {
        let values = try EventStream.events(in: object)
        return try values.enumerated().map { index, record in
            try record.withUnsafeBytes { bytes in
                let members = try JSONMembers.topLevel(in: bytes)
                var result = Record(sessionID: nil, events: [])
                var sawEvents = false
                for member in members {
                    switch member.key {
                    case "sessionId":
                        var decoded: [UInt8] = []
                        let raw = UnsafeRawBufferPointer(rebasing: bytes[(member.value.lowerBound + 1)..<(member.value.upperBound - 1)])
                        guard bytes[member.value.lowerBound] == UInt8(ascii: "\""), JSONStringCoding.unescapeCanonical(raw, into: &decoded) else {
                            throw RRStoreError(.invalidEvent, "record \(index + 1): sessionId is not a plain string")
                        }
                        result.sessionID = String(decoding: decoded, as: UTF8.self)
                    case "sequence":
                        result.sequence = EventBatchFraming.envelopeSequence(UnsafeRawBufferPointer(rebasing: bytes[member.value]))
                    case "rrwebEvent":
                        sawEvents = true
                        result.events.append(Array(bytes[member.value]))
                    case "events":
                        sawEvents = true
                        let array = UnsafeRawBufferPointer(rebasing: bytes[member.value])
                        guard array.first == UInt8(ascii: "[") else {
                            throw RRStoreError(.invalidEvent, "record \(index + 1): \"events\" is not an array")
                        }
                        result.events += try JSONMembers.elements(ofArray: array).map { Array(array[$0]) }
                    default:
                        continue
                    }
                }
                guard sawEvents else {
                    throw RRStoreError(.invalidEvent, "record \(index + 1) has neither \"rrwebEvent\" nor \"events\"")
                }
                return result
            }
        }
    }
}
