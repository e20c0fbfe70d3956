import RRStoreCore
import Testing

@Suite struct GzipTests {
    @Test func roundTripsAndHandlesMultipleMembers() throws {
        let a = bytes(String(repeating: "hello rrweb ", count: 5000))
        let b = bytes("second member")
        let gzA = try GzipEncoder.compress(a)
        #expect(gzA.count < a.count / 10)
        #expect(try GzipDecoder.decompress(gzA) == a)
        #expect(try GzipDecoder.decompress(gzA + GzipEncoder.compress(b)) == a + b)
    }

    @Test func truncatedGzipIsAnError() throws {
        let gz = try GzipEncoder.compress(bytes(String(repeating: "x", count: 10000)))
        for cut in [gz.count - 1, gz.count - 8, gz.count / 2, 10] {
            #expect(throws: RRStoreError.self) { try GzipDecoder.decompress(Array(gz[..<cut])) }
            do {
                _ = try GzipDecoder.decompress(Array(gz[..<cut]))
            } catch let error as RRStoreError {
                #expect(error.code == .invalidGzip)
                #expect(error.message.contains("truncated"))
            }
        }
    }

    @Test func corruptGzipIsAnError() throws {
        var gz = try GzipEncoder.compress(bytes(String(repeating: "abc", count: 1000)))
        gz[gz.count / 2] ^= 0xFF
        gz[gz.count / 2 + 1] ^= 0xFF
        #expect(throws: RRStoreError.self) { try GzipDecoder.decompress(gz) }
    }

    @Test func decompressionBombIsBounded() throws {
        let gz = try GzipEncoder.compress([UInt8](repeating: 0, count: 1 << 20))
        #expect(throws: RRStoreError.self) { try GzipDecoder.decompress(gz, maxOutputBytes: 1000) }
    }
}

@Suite struct EventStreamTests {
    @Test func splitsArraysAndNDJSONIntoExactEventBytesAtAnyChunkSize() throws {
        let array = #"[ {"a":"]}\"[{"} ,{"b":[1,{"c":2}]},{"s":"\\"}]"#
        let ndjson = "{\"a\":1}\n{\"b\" : [\n1]}\r\n  {\"c\":\"\\\"}\"}\n"
        for chunk in [1, 2, 3, 7, 1000] {
            #expect(try frameEvents(bytes(array), chunkSize: chunk).map(text) == [#"{"a":"]}\"[{"}"#, #"{"b":[1,{"c":2}]}"#, #"{"s":"\\"}"#])
            #expect(try frameEvents(bytes(ndjson), chunkSize: chunk).map(text) == ["{\"a\":1}", "{\"b\" : [\n1]}", "{\"c\":\"\\\"}\"}"])
        }
        #expect(try frameEvents(bytes("[]")).isEmpty)
        #expect(try frameEvents(bytes("  ")).isEmpty)
    }

    @Test(arguments: [
        ("[{\"a\":1}", RRStoreError.Code.truncatedInput),
        ("[{\"a\":1},", .truncatedInput),
        ("{\"a\":1}{\"b\":", .truncatedInput),
        ("[{\"a\":1}] x", .invalidEvent),
        ("[{\"a\":1} {\"b\":1}]", .invalidEvent),
        ("[1,2]", .invalidEvent),
        ("\"text\"", .invalidEvent),
        ("[{\"a\":01}]", .invalidJSON),
    ])
    func reportsBrokenFraming(input: String, code: RRStoreError.Code) {
        do {
            _ = try frameEvents(bytes(input))
            Issue.record("\(input) should fail")
        } catch let error as RRStoreError {
            #expect(error.code == code, "\(input): \(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func limitsEventSize() {
        var stream = EventStream(maxEventSize: 10)
        let handler: EventStream.Handler = { remainder in
            var visitor = ValidatingVisitor()
            return try JSONParser.parsePrefix(remainder, visitor: &visitor)
        }
        #expect(throws: RRStoreError.self) {
            try stream.feed(bytes("[{\"a\":\"0123456789\"}]"), handler)
            try stream.finish(handler)
        }
    }

    @Test func aWholeInputIsFramedInPlaceAndAnOversizedEventIsRefusedAtTheLimit() throws {
        let small = "{\"a\":\"" + String(repeating: "x", count: 40) + "\"}"  // 48 bytes
        let large = "{\"a\":\"" + String(repeating: "y", count: 1_000) + "\"}"
        var longestSeen = 0
        var events: [String] = []
        let handler: EventStream.Handler = { remainder in
            longestSeen = max(longestSeen, remainder.count)
            var visitor = ValidatingVisitor()
            let length = try JSONParser.parsePrefix(remainder, visitor: &visitor)
            events.append(String(decoding: remainder[..<length], as: UTF8.self))
            return length
        }
        var stream = EventStream(maxEventSize: small.utf8.count)
        try bytes("[\(small),\n\(small)]").withUnsafeBytes { try stream.feedWhole($0, handler) }
        try stream.finish(handler)
        #expect(events == [small, small], "events exactly at the limit pass")
        var limited = EventStream(maxEventSize: 100)
        do {
            try bytes("[\(small),\(large),\(small)]").withUnsafeBytes { try limited.feedWhole($0, handler) }
            Issue.record("an event over the limit was accepted")
        } catch let error as RRStoreError {
            #expect(error.code == .tooLarge)
            #expect(error.offset == 1 + small.utf8.count + 1, "the offset of the oversized event")
        }
        #expect(longestSeen <= 100, "the handler never saw more than the limit")
    }

    @Test func aHugeEventCutIntoManyChunksIsParsedAboutOnce() throws {
        let event = "{\"a\":[" + Array(repeating: "1234567", count: 100_000).joined(separator: ",") + "]}"
        var stream = EventStream()
        var parsedBytes = 0
        var lengths: [Int] = []
        let handler: EventStream.Handler = { remainder in
            parsedBytes += remainder.count
            var visitor = ValidatingVisitor()
            let length = try JSONParser.parsePrefix(remainder, visitor: &visitor)
            lengths.append(length)
            return length
        }
        let input = bytes(event)
        for start in stride(from: 0, to: input.count, by: 1000) {
            try input[start..<min(start + 1000, input.count)].withUnsafeBytes { try stream.feed($0, handler) }
        }
        try stream.finish(handler)
        #expect(lengths == [input.count])
        #expect(parsedBytes < input.count * 3, "retries wait for the buffer to double: \(parsedBytes) bytes parsed for \(input.count)")
    }
}

@Suite struct CurlShimTests {
    @Test func libcurlLinksAndTypedOptionsWork() throws {
        try CurlProbe.check()
    }
}
