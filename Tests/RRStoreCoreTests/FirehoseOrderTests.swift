import RRStoreCore
import Testing

/// Old Firehose objects hold the original client's envelopes in arrival order: backfill
/// puts them back in the client's order, once each.
@Suite struct FirehoseOrderTests {
    static func envelope(_ n: Int, x: Int? = nil) -> String {
        #"{"sessionId":"s","rrwebEvent":{"type":3,"data":{"x":\#(x ?? n)},"timestamp":\#(n)},"sequence":\#(n)}"#
    }

    @Test func envelopesAreOrderedBySequenceAndExactRepeatsCountOnce() throws {
        let object = [3, 0, 2, 1, 2, 4].map { Self.envelope($0) }.joined(separator: "\n") + Self.envelope(4, x: 99)
        let records = try FirehoseRecords.records(in: Array(object.utf8))
        #expect(records.map(\.sequence) == [3, 0, 2, 1, 2, 4, 4])
        let events = FirehoseRecords.eventsInClientOrder(records).map { String(decoding: $0, as: UTF8.self) }
        #expect(events.map { $0.contains("\"timestamp\":") } == Array(repeating: true, count: 6))
        #expect(events == [0, 1, 2, 3].map { #"{"type":3,"data":{"x":\#($0)},"timestamp":\#($0)}"# }
                + [#"{"type":3,"data":{"x":4},"timestamp":4}"#, #"{"type":3,"data":{"x":99},"timestamp":4}"#],
                "the repeat of 2 is dropped; two different records under 4 are both kept, in arrival order")
    }

    @Test func recordsWithoutASequenceKeepTheirOrder() throws {
        let object = Self.envelope(2) + #"{"sessionId":"s","events":[{"type":3,"timestamp":9}]}"# + Self.envelope(1)
        let records = try FirehoseRecords.records(in: Array(object.utf8))
        #expect(records.map(\.sequence) == [2, nil, 1])
        let events = FirehoseRecords.eventsInClientOrder(records).map { String(decoding: $0, as: UTF8.self) }
        #expect(events.map { $0.contains("\"timestamp\":2") || $0.contains("\"timestamp\":9") || $0.contains("\"timestamp\":1") } == [true, true, true])
        #expect(events[0].contains("\"timestamp\":2") && events[2].contains("\"timestamp\":1"), "as given")
        // A sequence that is not a plain integer is no sequence.
        let odd = try FirehoseRecords.records(in: Array(#"{"rrwebEvent":{"type":3},"sequence":"7"}{"rrwebEvent":{"type":3},"sequence":-1}"#.utf8))
        #expect(odd.map(\.sequence) == [nil, nil])
    }
}
