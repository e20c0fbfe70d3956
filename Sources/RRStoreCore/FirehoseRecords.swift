/// The records of the original pipeline's Kinesis Firehose objects: JSON objects one after
/// another (newline-separated, or not separated at all, as Firehose concatenates records),
/// each `{"sessionId": "...", "rrwebEvent": {...}}` or `{"sessionId": "...", "events": [...]}`
/// (other members, such as `sequence`, are ignored).
public enum FirehoseRecords {
    public struct Record: Sendable {
        public var sessionID: String?
        /// Each event's JSON (an object, or a string if packed by rrweb's packer).
        public var events: [[UInt8]]
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
