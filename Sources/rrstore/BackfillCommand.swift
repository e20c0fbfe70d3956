import ArgumentParser
import Foundation
import RRStoreClient
import RRStoreCore
import RRStoreStorage
import Synchronization

struct BackfillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Load old sessions into a server, uploading each asset once.",
        discussion: """
        SOURCE is a session file (a JSON array of events, NDJSON, or gzip of either) or a \
        directory searched recursively for *.json, *.ndjson, *.jsonl (each optionally .gz). \
        Each session becomes one recording whose id comes from its path relative to SOURCE, \
        so a re-run never duplicates: batches carry idempotency keys, and finished sessions \
        are listed in a checkpoint file and skipped. A corrupt file is reported and skipped. \
        Exits 1 if any session failed.
        """
    )

    @Argument(help: "A session file or a directory of them.")
    var source: String

    @Option(help: "The rrstore server, e.g. http://127.0.0.1:8080 (env RRSTORE_SERVER).")
    var server: String?

    @Option(help: "A bearer token (env RRSTORE_TOKEN).")
    var token: String?

    @Option(help: "Sessions loaded at once.")
    var concurrency = 2

    @Option(help: "Checkpoint file (default: .rrstore-backfill-<hash>.checkpoint in the current directory).")
    var checkpoint: String?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let environment = ProcessInfo.processInfo.environment
            guard let server = server ?? environment["RRSTORE_SERVER"] else {
                throw ValidationError("--server (or RRSTORE_SERVER) is required")
            }
            let client = RRStoreClient(baseURL: server, token: token ?? environment["RRSTORE_TOKEN"])
            let sessions = try BackfillSource.sessions(in: source)
            let checkpointPath = checkpoint ?? ".rrstore-backfill-\(SHA256Digest.hash(Array("\(server)\n\(source)".utf8)).hex.prefix(12)).checkpoint"
            let done = BackfillCheckpoint(path: checkpointPath)
            let present = PresentAssets()
            let started = ContinuousClock.now
            let progress = BackfillProgress()
            let total = sessions.count

            try await withThrowingTaskGroup(of: Void.self) { group in
                var next = 0
                func startNext() {
                    guard next < sessions.count else { return }
                    let session = sessions[next]
                    next += 1
                    group.addTask {
                        if done.contains(session.relativePath) {
                            progress.counts.withLock { $0.skipped += 1 }
                            return
                        }
                        let clock = ContinuousClock.now
                        do {
                            let stats = try await BackfillSource.load(session, client: client, present: present)
                            try done.add(session.relativePath)
                            progress.totals.withLock { $0 += stats }
                            let n = progress.counts.withLock { $0.loaded += 1; return $0.loaded + $0.skipped + $0.failed.count }
                            let seconds = (ContinuousClock.now - clock).seconds
                            printError("[\(n)/\(total)] \(session.relativePath) -> \(session.recordingID): \(stats.events) events, "
                                       + "\(String(format: "%.1f", Double(stats.rawBytes) / 1e6)) MB, \(stats.assetsUploaded) assets uploaded, "
                                       + "\(String(format: "%.1f", seconds)) s")
                        } catch let error as NotASession {
                            let n = progress.counts.withLock { $0.skipped += 1; return $0.loaded + $0.skipped + $0.failed.count }
                            printError("[\(n)/\(total)] \(session.relativePath): skipped: \(error)")
                        } catch {
                            let n = progress.counts.withLock { $0.failed.append(session.relativePath); return $0.loaded + $0.skipped + $0.failed.count }
                            printError("[\(n)/\(total)] \(session.relativePath): failed, skipped: \(error)")
                        }
                    }
                }
                for _ in 0..<max(1, concurrency) { startNext() }
                while try await group.next() != nil { startNext() }
            }

            let stats = progress.totals.withLock { $0 }
            let outcome = progress.counts.withLock { $0 }
            let seconds = (ContinuousClock.now - started).seconds
            if json {
                let summary: [String: Any] = [
                    "sessions": outcome.loaded, "skipped_sessions": outcome.skipped, "failed_sessions": outcome.failed,
                    "events": stats.events, "raw_bytes": stats.rawBytes, "assets_referenced": stats.assetsReferenced,
                    "assets_uploaded": stats.assetsUploaded, "asset_bytes_uploaded": stats.assetBytesUploaded,
                    "missing_requests": stats.missingRequests, "event_requests": stats.eventRequests, "seconds": seconds,
                ]
                let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("""
                    sessions loaded \(outcome.loaded), skipped (done before, or not sessions) \(outcome.skipped), failed \(outcome.failed.count)
                    events \(stats.events), raw bytes \(stats.rawBytes), rewritten bytes \(stats.rewrittenBytes)
                    assets referenced \(stats.assetsReferenced), uploaded \(stats.assetsUploaded) (\(stats.assetBytesUploaded) bytes)
                    requests: missing \(stats.missingRequests), events \(stats.eventRequests); \(String(format: "%.1f", seconds)) s
                    """)
            }
            if !outcome.failed.isEmpty { throw ExitCode.failure }
        }
    }
}

final class BackfillProgress: Sendable {
    let totals = Mutex(UploadStats())
    let counts = Mutex((loaded: 0, skipped: 0, failed: [String]()))
}

/// Finished sessions, one relative path a line, appended durably as each one finishes.
final class BackfillCheckpoint: Sendable {
    let path: String
    private let finished: Mutex<Set<String>>

    init(path: String) {
        self.path = path
        let text = (try? FileSystem.readAll(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        finished = Mutex(Set(text.split(separator: "\n").map(String.init)))
    }

    func contains(_ session: String) -> Bool { finished.withLock { $0.contains(session) } }

    func add(_ session: String) throws {
        try finished.withLock { set in
            set.insert(session)
            let fd = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_APPEND)
            try Array((session + "\n").utf8).withUnsafeBytes { try fd.writeAll($0, path: path) }
            try fd.sync(path: path)
        }
    }
}

/// A JSON file that holds no rrweb events (a manifest, a statistics file): left alone.
struct NotASession: Error, CustomStringConvertible {
    var path: String
    var description: String { "not an rrweb session (no events with a \"type\")" }
}

/// Whether the event object has a top-level `"type"` key, as every rrweb event does.
func hasTypeField(_ event: [UInt8]) -> Bool {
    struct Visitor: JSONVisitor {
        typealias ContainerContext = Void
        let input: UnsafeRawBufferPointer
        var depth = 0
        var found = false
        mutating func beginContainer(at offset: Int, isObject: Bool) throws { depth += 1 }
        mutating func endContainer(_ context: Void, start: Int, end: Int, isObject: Bool, depth: Int) throws { self.depth -= 1 }
        mutating func key(start: Int, end: Int, hasEscapes: Bool) throws {
            if depth == 1 && end - start == 6 && input[start + 1] == UInt8(ascii: "t") && input[start + 2] == UInt8(ascii: "y")
                && input[start + 3] == UInt8(ascii: "p") && input[start + 4] == UInt8(ascii: "e") { found = true }
        }
    }
    return event.withUnsafeBytes { buffer in
        var visitor = Visitor(input: buffer)
        guard (try? JSONParser.parse(buffer, visitor: &visitor)) != nil else { return false }
        return visitor.found
    }
}

struct BackfillSession: Sendable {
    var path: String
    var relativePath: String
    var recordingID: String
}

enum BackfillSource {
    static let suffixes = [".json", ".ndjson", ".jsonl"]

    static func sessions(in source: String) throws -> [BackfillSession] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw RRStoreError(.io, "\(source) does not exist")
        }
        guard isDirectory.boolValue else {
            let name = (source as NSString).lastPathComponent
            return [BackfillSession(path: source, relativePath: name, recordingID: recordingID(for: name))]
        }
        let root = source.hasSuffix("/") ? source : source + "/"
        let files = (FileManager.default.enumerator(atPath: source)?.allObjects as? [String] ?? [])
            .filter { path in suffixes.contains { path.hasSuffix($0) || path.hasSuffix($0 + ".gz") } }
            .sorted()
        return files.map { BackfillSession(path: root + $0, relativePath: $0, recordingID: recordingID(for: $0)) }
    }

    /// The path without its extensions, `/` as `_`, other bytes outside the id alphabet as
    /// `-`; long paths keep a prefix and a hash, so ids stay unique and at most 128 bytes.
    static func recordingID(for relativePath: String) -> String {
        var name = relativePath
        if name.hasSuffix(".gz") { name.removeLast(3) }
        for suffix in suffixes where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
        let mapped = String(String.UnicodeScalarView(name.unicodeScalars.map { scalar -> Unicode.Scalar in
            if scalar == "/" { return "_" }
            let allowed = scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "." || scalar == "_" || scalar == "-")
            return allowed ? scalar : "-"
        }))
        guard mapped.utf8.count > 128 else { return mapped }
        return String(mapped.prefix(100)) + "-" + SHA256Digest.hash(Array(relativePath.utf8)).hex.prefix(20)
    }

    /// Events per request: at most this many, and about this many raw bytes.
    static let batchEvents = 1000
    static let batchBytes = 8 << 20

    static func load(_ session: BackfillSession, client: RRStoreClient, present: PresentAssets) async throws -> UploadStats {
        var bytes = try FileSystem.readAll(session.path)
        if bytes.starts(with: [0x1F, 0x8B]) { bytes = try GzipDecoder.decompress(bytes) }
        let events = try EventStream.events(in: bytes)
        bytes = []
        guard !events.isEmpty, events.allSatisfy(hasTypeField) else { throw NotASession(path: session.relativePath) }
        _ = try await client.createRecording(id: session.recordingID)
        var stats = UploadStats()
        var batch: [UInt8] = []
        var inBatch = 0, number = 0
        func send() async throws {
            stats += try await client.appendEvents(session.recordingID, events: batch, idempotencyKey: "backfill-\(number)", present: present)
            number += 1
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
