import Foundation
import RRStoreCore
import Testing
import RRStoreTestSupport

/// rrweb's packer: events packed as Latin-1 strings of zlib data unpack to the exact text
/// the recorder serialized; Firehose records of either shape give their events in order.
@Suite struct PackedEventTests {
    @Test func everyCorpusEventSurvivesPackingByteForByte() throws {
        var count = 0
        for url in try Corpus.sessions() {
            for event in try EventStream.events(in: try Corpus.load(url)) {
                let packed = try PackedEvent.pack(event, level: 1)
                #expect(packed.withUnsafeBytes(PackedEvent.isPacked))
                // What JSON.stringify wrote is valid JSON: a string.
                try packed.withUnsafeBytes { try JSONBytes.validate($0) }
                let unpacked = try packed.withUnsafeBytes { try PackedEvent.unpack($0) }
                #expect(unpacked == event, "\(url.lastPathComponent) event \(count)")
                count += 1
            }
        }
        #expect(count > 10_000)
    }

    @Test func escapesAndLatin1CharactersAreDecoded() throws {
        let event = Array(#"{"type":3,"data":{"text":"é\u0000\"\\"},"timestamp":1}"#.utf8)
        let packed = try PackedEvent.pack(event)
        // Re-spell the same string with other (valid) escapes: \u00XX for every byte.
        let inner = try packed.withUnsafeBytes { try PackedEventTests.latin1(ofJSONString: $0) }
        var spelled = "\""
        for byte in inner { spelled += String(format: "\\u%04X", byte) }
        spelled += "\""
        #expect(try Array(spelled.utf8).withUnsafeBytes { try PackedEvent.unpack($0) } == event)
    }

    static func latin1(ofJSONString value: UnsafeRawBufferPointer) throws -> [UInt8] {
        let text = try JSONSerialization.jsonObject(with: Data(value), options: [.fragmentsAllowed]) as! String
        return text.unicodeScalars.map { UInt8($0.value) }
    }

    @Test func aStringHoldingPlainJSONIsThatJSON() throws {
        let plain = Array(#""{\"type\":4,\"data\":{},\"timestamp\":2}""#.utf8)
        #expect(try plain.withUnsafeBytes { try PackedEvent.unpack($0) } == Array(#"{"type":4,"data":{},"timestamp":2}"#.utf8))
    }

    @Test func otherPackersAndOtherStringsAreClearErrors() throws {
        func packedText(_ json: String) throws -> [UInt8] {
            let zlib = try GzipEncoder.compress(Array(json.utf8), wrapper: .zlib)
            var out = "\""
            for byte in zlib { out += String(format: "\\u%04x", byte) }
            return Array((out + "\"").utf8)
        }
        let v2 = try packedText(#"{"type":4,"timestamp":1,"v":"v2"}"#)
        #expect { try v2.withUnsafeBytes { try PackedEvent.unpack($0) } } throws: { error in
            (error as? RRStoreError)?.message.contains("\"v2\"") == true
        }
        let unmarked = try packedText(#"{"type":4,"timestamp":1}"#)
        #expect(throws: RRStoreError.self) { try unmarked.withUnsafeBytes { try PackedEvent.unpack($0) } }
        let ownV = try packedText(#"{"v":"v1","type":4}"#)
        #expect(try ownV.withUnsafeBytes { try PackedEvent.unpack($0) } == Array(#"{"v":"v1","type":4}"#.utf8), "a v of the event's own is kept")
        let wide = Array("\"\u{263A}\"".utf8)
        #expect(throws: RRStoreError.self) { try wide.withUnsafeBytes { try PackedEvent.unpack($0) } }
        let notZlib = Array("\"hello\"".utf8)
        #expect(throws: RRStoreError.self) { try notZlib.withUnsafeBytes { try PackedEvent.unpack($0) } }
    }

    @Test func firehoseRecordsOfBothShapesInOrder() throws {
        let packed = try PackedEvent.pack(Array(#"{"type":3,"timestamp":3}"#.utf8))
        let object = Array(("""
            {"sessionId":"s1","rrwebEvent":{"type":4,"timestamp":1},"sequence":0}
            {"sessionId":"s1","events":[{"type":2,"timestamp":2}, 
            """ + String(decoding: packed, as: UTF8.self) + #"]}{"events":[],"sessionId":"s1"}"#).utf8)
        let records = try FirehoseRecords.records(in: object)
        #expect(records.map(\.sessionID) == ["s1", "s1", "s1"])
        #expect(records.map(\.events.count) == [1, 2, 0])
        #expect(records[0].events[0] == Array(#"{"type":4,"timestamp":1}"#.utf8))
        #expect(records[1].events[1] == packed)
        #expect(throws: RRStoreError.self) { try FirehoseRecords.records(in: Array(#"{"sessionId":"s1"}"#.utf8)) }
        #expect(throws: RRStoreError.self) { try FirehoseRecords.records(in: Array(#"{"events":{}}"#.utf8)) }
        #expect(throws: RRStoreError.self) { try FirehoseRecords.records(in: Array(#"{"events":[1,"#.utf8)) }
    }

    @Test func packedStringsStandInForEventsOnlyWhenAsked() throws {
        let text = Array(#"[{"type":4,"timestamp":1},"abc"]"#.utf8)
        #expect(try EventStream.events(in: text, acceptsStrings: true).count == 2)
        #expect(throws: RRStoreError.self) { try EventStream.events(in: text) }
    }
}
