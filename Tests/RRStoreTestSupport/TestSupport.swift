import Foundation
import RRStoreCore
import RRStoreHTTP

/// The package's root directory (README.md, openapi.yaml).
public let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The shared corpus (`../shared/corpus` beside the repository; CI lays a copy of shared/
/// there), for every test target.
public enum Corpus {
    public static let directory: URL = {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/corpus")
    }()

    /// Every session file in the corpus, sorted. Throws (failing the test) if there are none.
    public static func sessions() throws -> [URL] {
        guard let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else {
            throw RRStoreError(.io, "the corpus is missing at \(directory.path); it belongs at ../shared/corpus beside the repository")
        }
        let files = enumerator.compactMap { $0 as? URL }.filter { $0.lastPathComponent.hasSuffix(".json.gz") }.sorted { $0.path < $1.path }
        guard !files.isEmpty else { throw RRStoreError(.io, "no sessions (*.json.gz) under \(directory.path)") }
        return files
    }

    /// The session's JSON text (decompressed).
    public static func load(_ url: URL) throws -> [UInt8] {
        try GzipDecoder.decompress(Array(Data(contentsOf: url)))
    }

    /// The session's events, each on its own line: what a read or `rehydrate` must give back.
    public static func eventsAsNDJSON(_ url: URL) throws -> Data {
        Data(try expectedNDJSON(try load(url)))
    }

    /// A stable recording id for a session file: its folder and name.
    public static func recordingID(_ url: URL) -> String {
        "\(url.deletingLastPathComponent().lastPathComponent)-\(url.deletingPathExtension().deletingPathExtension().lastPathComponent)"
    }
}

/// The events as NDJSON, each event's own bytes on a line.
public func expectedNDJSON(_ json: [UInt8]) throws -> [UInt8] {
    var out: [UInt8] = []
    for event in try EventStream.events(in: json) {
        out += event
        out.append(UInt8(ascii: "\n"))
    }
    return out
}

/// A new, empty directory under the system's temporary directory.
public func temporaryDirectory(_ prefix: String = "rrstore-test") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The `code` of an API error answer (`{"error": {"code", "message"}}`), if it is one.
public func errorCode(_ response: CurlResponse) -> String? {
    struct Body: Decodable { struct Inner: Decodable { var code: String; var message: String }; var error: Inner }
    return (try? JSONDecoder().decode(Body.self, from: Data(response.body)))?.error.code
}
