import RRStoreCore
import Testing

@Suite struct JSONScannerTests {
    func tokens(_ json: String) throws -> [(JSONToken.Kind, String)] {
        let input = bytes(json)
        return try input.withUnsafeBytes { buffer in
            var scanner = JSONScanner(buffer)
            var out: [(JSONToken.Kind, String)] = []
            while true {
                let token = try scanner.next()
                if token.kind == .end { return out }
                out.append((token.kind, text(Array(input[token.start..<token.end]))))
            }
        }
    }

    func scanError(_ json: String, maxDepth: Int = 512) -> RRStoreError? {
        do {
            try bytes(json).withUnsafeBytes { try JSONScanner.validate($0, maxDepth: maxDepth) }
            return nil
        } catch let error as RRStoreError {
            return error
        } catch {
            return nil
        }
    }

    @Test func yieldsEveryValueSpanAndTellsKeysFromValues() throws {
        let got = try tokens(#" {"a" : [1, -2.5e+3, true,false , null, "x\"y"], "b":{}} "#)
        let kinds = got.map(\.0)
        let spans = got.map(\.1)
        #expect(kinds == [.beginObject, .key, .beginArray, .number, .number, .literal, .literal, .literal, .string,
                          .endArray, .key, .beginObject, .endObject, .endObject])
        #expect(spans == ["{", "\"a\"", "[", "1", "-2.5e+3", "true", "false", "null", "\"x\\\"y\"", "]", "\"b\"", "{", "}", "}"])
    }

    @Test func reportsEscapesAndAcceptsEveryEscapeKindIncludingLoneSurrogates() throws {
        let input = bytes(#"["plain", "a\nb", "\ud800", "\udc00x", "\uD83D\uDE00", "\/\b\f\r\t\\\"", "é😀"]"#)
        try input.withUnsafeBytes { buffer in
            var scanner = JSONScanner(buffer)
            var escapes: [Bool] = []
            while true {
                let token = try scanner.next()
                if token.kind == .end { break }
                if token.kind == .string { escapes.append(token.hasEscapes) }
            }
            #expect(escapes == [false, true, true, true, true, true, false])
        }
    }

    @Test func scalarsAndEmptyContainersAtTheTop() throws {
        #expect(try tokens("0").map(\.1) == ["0"])
        #expect(try tokens(" \"\" ").map(\.1) == ["\"\""])
        #expect(try tokens("[]").map(\.0) == [.beginArray, .endArray])
        #expect(try tokens("{}").map(\.0) == [.beginObject, .endObject])
    }

    @Test(arguments: [
        ("", 0), ("{", 1), ("[1,]", 3), ("{\"a\" 1}", 5), ("{\"a\":1,}", 7), ("{1:2}", 1),
        ("[01]", 2), ("[1.]", 3), ("[.5]", 1), ("[1e]", 3), ("[-]", 2), ("[+1]", 1),
        ("[tru]", 4), ("[nul]", 4), ("[True]", 1), ("\"abc", 0), ("\"a\\x\"", 2), ("\"\\u12g4\"", 5),
        ("\"a\u{01}b\"", 2), ("[1] 2", 4), ("[1][2]", 3), ("[1 2]", 3), ("{\"a\":1 \"b\":2}", 7), ("[}", 1), ("{]", 1),
    ])
    func rejectsInvalidJSONWithTheByteOffset(json: String, offset: Int) {
        let error = scanError(json)
        #expect(error?.code == .invalidJSON, "\(json) must be rejected")
        #expect(error?.offset == offset, "\(json): \(String(describing: error))")
    }

    @Test func limitsNestingDepth() {
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        #expect(scanError(deep, maxDepth: 40) == nil)
        #expect(scanError(deep, maxDepth: 39)?.code == .nestingTooDeep)
    }
}
