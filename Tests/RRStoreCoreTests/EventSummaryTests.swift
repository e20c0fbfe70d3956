import Testing
@testable import RRStoreCore

/// What a recording's list row shows, read from its events as they are appended.
@Suite struct EventSummaryTests {
    func summary(_ events: String...) -> EventSummary { EventSummary(events: events.map { Array($0.utf8) }) }

    @Test func timesAndTheFirstPage() {
        let read = summary(#"{"type":4,"data":{"href":"https://a.example/one","width":1,"height":1},"timestamp":1000}"#,
                           #"{"type":2,"data":{"node":{"href":"https://not.this/"}},"timestamp":1001}"#,
                           #"{"timestamp":900,"data":{"source":1},"type":3}"#,
                           #"{"type":4,"data":{"href":"https://a.example/two"},"timestamp":5000}"#)
        #expect(read == EventSummary(firstTimestamp: 900, lastTimestamp: 5000, firstURL: "https://a.example/one"))
    }

    @Test func theTypeMayComeAfterTheDataAndEscapesAreDecoded() {
        let read = summary(#"{"data":{"width":1,"href":"https:\/\/a.example\/caf\u00e9?q=\"x\""},"timestamp":7,"type":4}"#)
        // `\/` and `\u00e9` are not JSON.stringify's spelling: such an href is left out
        // rather than guessed; `\"` is.
        #expect(read.firstURL == nil && read.firstTimestamp == 7)
        let plain = summary(#"{"data":{"href":"https://a.example/?q=\"x\""},"timestamp":7,"type":4}"#)
        #expect(plain.firstURL == #"https://a.example/?q="x""#)
    }

    @Test func onlyMetaEventsNameThePageAndOnlyTheirOwnData() {
        #expect(summary(#"{"type":3,"data":{"href":"https://no/"},"timestamp":1}"#).firstURL == nil)
        #expect(summary(#"{"type":4,"data":{"x":{"href":"https://no/"}},"timestamp":1}"#).firstURL == nil)
        #expect(summary(#"{"type":4,"href":"https://no/","timestamp":1}"#).firstURL == nil)
        #expect(summary(#"{"type":4,"data":[{"href":"https://no/"}],"timestamp":1}"#).firstURL == nil)
    }

    /// Recorder input is untrusted: nothing here may trap, and what is not a time is no time.
    @Test func oddInputAddsNothingAndNeverTraps() {
        let read = summary("[]", "{", "null", #"{"timestamp":"12"}"#, #"{"timestamp":1e300}"#, #"{"timestamp":-1e300}"#,
                           #"{"timestamp":NaN}"#, #"{"type":4,"data":{"href":5},"timestamp":3}"#, "{\"timestamp\":12.9}")
        #expect(read == EventSummary(firstTimestamp: 3, lastTimestamp: 12, firstURL: nil))
        let extremes = summary(#"{"timestamp":-9223372036854775808}"#, #"{"timestamp":9223372036854775807}"#)
        #expect(extremes.firstTimestamp == Int64.min && extremes.lastTimestamp == Int64.max)
        #expect(extremes.durationMilliseconds == nil, "the span overflows: no duration, no trap")
        #expect(EventSummary(firstTimestamp: 1000, lastTimestamp: 4500).durationMilliseconds == 3500)
        let long = String(repeating: "a", count: 10_000)
        #expect(summary(#"{"type":4,"data":{"href":"\#(long)"},"timestamp":1}"#).firstURL?.utf8.count == EventSummary.maxURLBytes)
        // Cut between characters, even where invalid bytes grow into U+FFFD.
        let wide = EventSummary.cut(Array(repeating: 0xFF, count: 5000))
        #expect(wide.utf8.count <= EventSummary.maxURLBytes && wide.utf8.count > EventSummary.maxURLBytes - 3)
        #expect(EventSummary.cut(Array(String(repeating: "é", count: 2000).utf8)).utf8.count == EventSummary.maxURLBytes)
    }
}
