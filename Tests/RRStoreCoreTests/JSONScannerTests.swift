import RRStoreCore
import Testing

/// Records what the parser reports, as (kind, exact bytes) pairs.
struct TokenRecorder: JSONVisitor {
    enum Kind: Equatable { case beginObject, endObject, beginArray, endArray, key, string, scalar }
    typealias ContainerContext = Void
    let input: [UInt8]
    var tokens: [(Kind, String, Bool)] = []
    mutating func add(_ kind: Kind, _ start: Int, _ end: Int, _ escapes: Bool = false) {
        tokens.append((kind, text(Array(input[start..<end])), escapes))
    }
    mutating func beginContainer(at offset: Int, isObject: Bool) { add(isObject ? .beginObject : .beginArray, offset, offset + 1) }
    mutating func endContainer(_ context: Void, start: Int, end: Int, isObject: Bool, depth: Int) {
        add(isObject ? .endObject : .endArray, end - 1, end)
    }
    mutating func key(start: Int, end: Int, hasEscapes: Bool) { add(.key, start, end, hasEscapes) }
    mutating func string(start: Int, end: Int, hasEscapes: Bool) { add(.string, start, end, hasEscapes) }
    mutating func scalar(start: Int, end: Int) { add(.scalar, start, end) }
}

@Suite struct JSONParserTests {
    func recorded(_ json: String) throws -> [(TokenRecorder.Kind, String, Bool)] {
        let input = bytes(json)
        var recorder = TokenRecorder(input: input)
        try input.withUnsafeBytes { try JSONParser.parse($0, visitor: &recorder) }
        return recorder.tokens
    }

    func tokens(_ json: String) throws -> [(TokenRecorder.Kind, String)] {
        try recorded(json).map { ($0.0, $0.1) }
    }

    func scanError(_ json: String, maxDepth: Int = 512) -> RRStoreError? {
        do {
            try bytes(json).withUnsafeBytes { try JSONBytes.validate($0, maxDepth: maxDepth) }
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
        #expect(kinds == [.beginObject, .key, .beginArray, .scalar, .scalar, .scalar, .scalar, .scalar, .string,
                          .endArray, .key, .beginObject, .endObject, .endObject])
        #expect(spans == ["{", "\"a\"", "[", "1", "-2.5e+3", "true", "false", "null", "\"x\\\"y\"", "]", "\"b\"", "{", "}", "}"])
    }

    @Test func reportsEscapesAndAcceptsEveryEscapeKindIncludingLoneSurrogates() throws {
        let escapes = try recorded(#"["plain", "a\nb", "\ud800", "\udc00x", "\uD83D\uDE00", "\/\b\f\r\t\\\"", "é😀"]"#)
            .filter { $0.0 == .string }.map(\.2)
        #expect(escapes == [false, true, true, true, true, true, false])
    }

    @Test func scalarsAndEmptyContainersAtTheTop() throws {
        #expect(try tokens("0").map(\.1) == ["0"])
        #expect(try tokens(" \"\" ").map(\.1) == ["\"\""])
        #expect(try tokens("[]").map(\.0) == [.beginArray, .endArray])
        #expect(try tokens("-12.5e3 ").map(\.1) == ["-12.5e3"])
        #expect(try tokens("{}").map(\.0) == [.beginObject, .endObject])
    }

    @Test(arguments: ["", "{", "[1,", "{\"a\"", "{\"a\":", "\"abc", "[tr", "{\"a\":1", "[\"\\u12"])
    func tellsTruncatedInputFromInvalidInput(json: String) {
        let error = scanError(json)
        #expect(error?.code == .truncatedInput, "\(json): \(String(describing: error))")
        #expect(error?.offset == json.utf8.count)
    }

    @Test(arguments: [ ("[1,]", 3), ("{\"a\" 1}", 5), ("{\"a\":1,}", 7), ("{1:2}", 1),
        ("[01]", 2), ("[1.]", 3), ("[.5]", 1), ("[1e]", 3), ("[-]", 2), ("[+1]", 1),
        ("[tru]", 4), ("[nul]", 4), ("[True]", 1), ("\"a\\x\"", 2), ("\"\\u12g4\"", 5),
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
