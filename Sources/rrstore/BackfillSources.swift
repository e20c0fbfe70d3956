import Foundation
import RRStoreClient
import RRStoreCore
import RRStoreStorage
import RRStoreIO

/// One session to load: a file, or the objects of one `sessionId=` folder of a Firehose
/// layout in S3.
struct BackfillSession: Sendable {
    enum Origin: Sendable {
        case file(path: String)
        case firehose(store: any BlobStore, keys: [BlobKey], sessionID: String)
    }

    var origin: Origin
    /// The checkpoint's name for it (a path relative to SOURCE, or `sessionId=<id>`).
    var relativePath: String
    var recordingID: String
    /// Bytes read from the source (compressed, if it is), for progress.
    var sourceBytes: Int
}

/// Where the S3 source is and how to reach it; credentials come from `AWS_*`.
struct S3SourceSettings: Sendable {
    var endpoint: String?
    var region: String?
    var addressing: String?
}

enum BackfillSource {
    static let suffixes = [".json", ".ndjson", ".jsonl"]

    static func sessions(in source: String, s3: S3SourceSettings, environment: [String: String]) async throws -> [BackfillSession] {
        if source.hasPrefix("s3://") { return try await firehoseSessions(source, s3: s3, environment: environment) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw RRStoreError(.io, "\(source) does not exist")
        }
        func size(_ path: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
        }
        guard isDirectory.boolValue else {
            let name = (source as NSString).lastPathComponent
            return [BackfillSession(origin: .file(path: source), relativePath: name, recordingID: recordingID(for: name), sourceBytes: size(source))]
        }
        let root = source.hasSuffix("/") ? source : source + "/"
        let files = (FileManager.default.enumerator(atPath: source)?.allObjects as? [String] ?? [])
            .filter { path in suffixes.contains { path.hasSuffix($0) || path.hasSuffix($0 + ".gz") } }
            .sorted()
        return files.map {
            BackfillSession(origin: .file(path: root + $0), relativePath: $0, recordingID: recordingID(for: $0), sourceBytes: size(root + $0))
        }
    }

    /// The path without its extensions, `/` as `_` (two folders may both hold
    /// `session-001.json.gz`), made a valid recording id.
    static func recordingID(for relativePath: String) -> String {
        var name = relativePath
        if name.hasSuffix(".gz") { name.removeLast(3) }
        for suffix in suffixes where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
        return validID(name.replacingOccurrences(of: "/", with: "_"), original: relativePath)
    }

    /// Bytes outside the id alphabet as `-`; long names keep a prefix and a hash of the
    /// original, so ids stay unique and at most 128 bytes.
    static func validID(_ name: String, original: String) -> String {
        let mapped = String(String.UnicodeScalarView(name.unicodeScalars.map { scalar -> Unicode.Scalar in
            let allowed = scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "." || scalar == "_" || scalar == "-")
            return allowed ? scalar : "-"
        }))
        guard mapped.isEmpty || mapped.utf8.count > 128 else { return mapped }
        return String(mapped.prefix(100)) + "-" + SHA256Digest.hash(Array(original.utf8)).hex.prefix(20)
    }

    // MARK: Firehose layout in S3

    /// `s3://bucket/prefix`: every object under `<prefix>/rrweb/recordings/`, grouped by the
    /// key's `sessionId=<id>` segment, in key order.
    static func firehoseSessions(_ source: String, s3: S3SourceSettings, environment: [String: String]) async throws -> [BackfillSession] {
        let location = source.dropFirst("s3://".count)
        let bucket = String(location.prefix { $0 != "/" })
        var prefix = String(location.dropFirst(bucket.count).drop { $0 == "/" })
        guard !bucket.isEmpty else { throw RRStoreError(.invalidConfiguration, "expected s3://bucket/prefix, got '\(source)'") }
        if !prefix.isEmpty && !prefix.hasSuffix("/") { prefix += "/" }
        guard let credentials = AWSCredentials.fromEnvironment(environment) else {
            throw RRStoreError(.invalidConfiguration, "reading \(source) needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
        }
        let region = s3.region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        let customEndpoint = s3.endpoint ?? environment["AWS_ENDPOINT_URL_S3"] ?? environment["AWS_ENDPOINT_URL"]
        // AWS itself wants virtual-hosted addressing; S3-compatible servers usually paths.
        let addressing = s3.addressing ?? (customEndpoint == nil ? "virtual" : "path")
        guard addressing == "path" || addressing == "virtual" else {
            throw RRStoreError(.invalidConfiguration, "--s3-addressing must be path or virtual, not '\(addressing)'")
        }
        let store = try S3BlobStore(configuration: S3Configuration(
            endpoint: customEndpoint ?? "https://s3.\(region).amazonaws.com", bucket: bucket, region: region, prefix: prefix,
            pathStyle: addressing == "path", credentials: credentials))
        let objects = try await store.listAll(prefix: "rrweb/recordings/")
        var order: [String] = []
        var grouped: [String: (keys: [BlobKey], bytes: Int)] = [:]
        for object in objects {
            guard let segment = object.key.rawValue.split(separator: "/").first(where: { $0.hasPrefix("sessionId=") }) else { continue }
            let id = String(segment.dropFirst("sessionId=".count)).removingPercentEncoding ?? String(segment.dropFirst("sessionId=".count))
            guard !id.isEmpty else { continue }
            if grouped[id] == nil { order.append(id) }
            grouped[id, default: ([], 0)].keys.append(object.key)
            grouped[id]!.bytes += object.size
        }
        return order.map { id in
            BackfillSession(origin: .firehose(store: store, keys: grouped[id]!.keys, sessionID: id), relativePath: "sessionId=\(id)",
                            recordingID: validID(id, original: id), sourceBytes: grouped[id]!.bytes)
        }
    }

    // MARK: Reading

    /// The session's events in order, unpacked if rrweb's packer packed them.
    static func events(of session: BackfillSession) async throws -> [[UInt8]] {
        switch session.origin {
        case .file(let path):
            return try fileEvents(try fileText(path))
        case .firehose(let store, let keys, let sessionID):
            var all: [FirehoseRecords.Record] = []
            for key in keys {
                var bytes = try await store.get(key)
                if bytes.starts(with: [0x1F, 0x8B]) { bytes = try GzipDecoder.decompress(bytes) }
                let records: [FirehoseRecords.Record]
                do {
                    records = try FirehoseRecords.records(in: bytes)
                } catch let error as RRStoreError {
                    throw RRStoreError(error.code, "\(key): \(error.message)", offset: error.offset)
                }
                for record in records {
                    if let recordSession = record.sessionID, recordSession != sessionID {
                        throw RRStoreError(.invalidEvent, "\(key) holds a record of session '\(recordSession)' in the folder of '\(sessionID)'")
                    }
                    all.append(record)
                }
            }
            return try unpacked(FirehoseRecords.eventsInClientOrder(all))
        }
    }

    /// A session file's JSON text (un-gzipped).
    static func fileText(_ path: String) throws -> [UInt8] {
        let bytes = try FileSystem.readAll(path)
        return bytes.starts(with: [0x1F, 0x8B]) ? try GzipDecoder.decompress(bytes) : bytes
    }

    /// The events of a session file's text, unpacked.
    static func fileEvents(_ text: [UInt8]) throws -> [[UInt8]] {
        try unpacked(try EventStream.events(in: text, acceptsStrings: true))
    }

    private static func unpacked(_ events: [[UInt8]]) throws -> [[UInt8]] {
        try events.map { event in
            try event.withUnsafeBytes { PackedEvent.isPacked($0) ? try PackedEvent.unpack($0) : event }
        }
    }

    /// Events per request: at most this many, and about this many raw bytes.
    static let batchEvents = 1000
    static let batchBytes = 8 << 20

    /// Loads one session; `progress` is told the fraction of its events sent so far.
    static func load(_ session: BackfillSession, client: RRStoreClient, present: PresentAssets, uploadBatchBytes: Int = 4 << 20,
                     progress: @Sendable (Double) -> Void = { _ in }) async throws -> UploadStats {
        let events = try await events(of: session)
        guard !events.isEmpty, events.allSatisfy(hasTypeField) else { throw NotASession(path: session.relativePath) }
        _ = try await client.createRecording(id: session.recordingID)
        var stats = UploadStats()
        var batch: [UInt8] = []
        var inBatch = 0, number = 0, sent = 0
        func send() async throws {
            stats += try await client.appendEvents(session.recordingID, events: batch, idempotencyKey: "backfill-\(number)", present: present,
                                                 uploadBatchBytes: uploadBatchBytes)
            number += 1
            sent += inBatch
            progress(Double(sent) / Double(events.count))
            batch.removeAll(keepingCapacity: true)
            inBatch = 0
        }
        for event in events {
            batch += event
            batch.append(UInt8(ascii: "\n"))
            inBatch += 1
            if inBatch >= batchEvents || batch.count >= batchBytes { try await send() }
        }
        if inBatch > 0 { try await send() }
        return stats
    }
}
