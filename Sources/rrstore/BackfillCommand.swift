import ArgumentParser
import Foundation
import RRStoreClient
import RRStoreCore
import RRStoreStorage
import Synchronization
import RRStoreIO

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

    @Option(help: "Missing assets are uploaded in batches of about this many bytes (POST /assets/batch); 0 uploads one PUT per asset, for servers from before batches.")
    var uploadBatchBytes = 4 << 20

    @Option(help: "Checkpoint file (default: .rrstore-backfill-<hash>.checkpoint in the current directory).")
    var checkpoint: String?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @Option(help: "For an s3:// SOURCE: the S3 endpoint (env AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL; default AWS).")
    var s3Endpoint: String?

    @Option(help: "For an s3:// SOURCE: the region (env AWS_REGION; default us-east-1).")
    var s3Region: String?

    @Option(help: "For an s3:// SOURCE: path or virtual addressing (default virtual on AWS, path with --s3-endpoint).")
    var s3Addressing: String?

    func run() async throws {
        try await reportingErrors {
            let environment = ProcessInfo.processInfo.environment
            guard let server = server ?? environment["RRSTORE_SERVER"] else {
                throw ValidationError("--server (or RRSTORE_SERVER) is required")
            }
            let client = RRStoreClient(baseURL: server, token: token ?? environment["RRSTORE_TOKEN"])
            let sessions = try await BackfillSource.sessions(
                in: source, s3: S3SourceSettings(endpoint: s3Endpoint, region: s3Region, addressing: s3Addressing), environment: environment)
            let checkpointPath = checkpoint ?? ".rrstore-backfill-\(SHA256Digest.hash(Array("\(server)\n\(source)".utf8)).hex.prefix(12)).checkpoint"
            let done = BackfillCheckpoint(path: checkpointPath)
            let present = PresentAssets()
            let started = ContinuousClock.now
            let progress = BackfillProgress(line: ProgressLine(totalItems: sessions.count, totalBytes: sessions.reduce(0) { $0 + $1.sourceBytes }),
                                            onTerminal: isatty(STDERR_FILENO) == 1)
            let total = sessions.count

            try await forEachConcurrently(sessions, limit: concurrency) { session in
                if done.contains(session.relativePath) {
                    progress.finished(session, skipped: true)
                    return
                }
                let clock = ContinuousClock.now
                let sent = Mutex(0.0)
                do {
                    let stats = try await BackfillSource.load(session, client: client, present: present, uploadBatchBytes: uploadBatchBytes) { fraction in
                        let delta = sent.withLock { old in
                            defer { old = fraction }
                            return (fraction - old) * Double(session.sourceBytes)
                        }
                        progress.advance(bytes: delta)
                    }
                    try done.add(session.relativePath)
                    progress.totals.withLock { $0 += stats }
                    let n = progress.finished(session, remainingBytes: Double(session.sourceBytes) * (1 - sent.withLock { $0 }))
                    let seconds = (ContinuousClock.now - clock).seconds
                    progress.log("[\(n)/\(total)] \(session.relativePath) -> \(session.recordingID): \(stats.events) events, "
                                 + "\(String(format: "%.1f", Double(stats.rawBytes) / 1e6)) MB, \(stats.assetsUploaded) assets uploaded, "
                                 + "\(String(format: "%.1f", seconds)) s", important: false)
                } catch let error as NotASession {
                    let n = progress.finished(session, skipped: true)
                    progress.log("[\(n)/\(total)] \(session.relativePath): skipped: \(error)", important: false)
                } catch {
                    let n = progress.finished(session, failed: true)
                    progress.log("[\(n)/\(total)] \(session.relativePath): failed, skipped: \(error)", important: true)
                }
            }
            progress.end()

            let stats = progress.totals.withLock { $0 }
            let outcome = progress.counts.withLock { $0 }
            let seconds = (ContinuousClock.now - started).seconds
            if json {
                let summary: [String: Any] = [
                    "sessions": outcome.loaded, "skipped_sessions": outcome.skipped, "failed_sessions": outcome.failed,
                    "events": stats.events, "raw_bytes": stats.rawBytes, "assets_referenced": stats.assetsReferenced,
                    "assets_uploaded": stats.assetsUploaded, "asset_bytes_uploaded": stats.assetBytesUploaded,
                    "missing_requests": stats.missingRequests, "upload_requests": stats.uploadRequests, "event_requests": stats.eventRequests,
                    "seconds": seconds,
                ]
                let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("""
                    sessions loaded \(outcome.loaded), skipped (done before, or not sessions) \(outcome.skipped), failed \(outcome.failed.count)
                    events \(stats.events), raw bytes \(stats.rawBytes), rewritten bytes \(stats.rewrittenBytes)
                    assets referenced \(stats.assetsReferenced), uploaded \(stats.assetsUploaded) (\(stats.assetBytesUploaded) bytes)
                    requests: missing \(stats.missingRequests), uploads \(stats.uploadRequests), events \(stats.eventRequests); \(String(format: "%.1f", seconds)) s
                    """)
            }
            if !outcome.failed.isEmpty { throw ExitCode.failure }
        }
    }
}

/// Counts and totals of a running backfill. On a terminal, a progress line redrawn in
/// place (at most ten times a second) and only failures above it; otherwise a log line per
/// session.
final class BackfillProgress: Sendable {
    let totals = Mutex(UploadStats())
    let counts = Mutex((loaded: 0, skipped: 0, failed: [String]()))
    private let line: Mutex<(value: ProgressLine, drawn: ContinuousClock.Instant?)>
    private let onTerminal: Bool
    private let started = ContinuousClock.now

    init(line: ProgressLine, onTerminal: Bool) {
        self.line = Mutex((line, nil))
        self.onTerminal = onTerminal
    }

    func advance(bytes: Double) {
        line.withLock { $0.value.doneBytes += bytes }
        redraw(force: false)
    }

    /// Counts the session as done (loaded, skipped or failed); returns how many are.
    @discardableResult
    func finished(_ session: BackfillSession, skipped: Bool = false, failed: Bool = false, remainingBytes: Double? = nil) -> Int {
        let n = counts.withLock { counts in
            if failed { counts.failed.append(session.relativePath) } else if skipped { counts.skipped += 1 } else { counts.loaded += 1 }
            return counts.loaded + counts.skipped + counts.failed.count
        }
        line.withLock {
            $0.value.doneItems += 1
            if failed { $0.value.failedItems += 1 }
            $0.value.doneBytes += remainingBytes ?? Double(session.sourceBytes)
        }
        redraw(force: false)
        return n
    }

    func log(_ message: String, important: Bool) {
        guard onTerminal else { return printError(message) }
        guard important else { return }
        line.withLock { _ in FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        printError(message)
        redraw(force: true)
    }

    func end() {
        guard onTerminal else { return }
        redraw(force: true)
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func redraw(force: Bool) {
        guard onTerminal else { return }
        let now = ContinuousClock.now
        line.withLock { state in
            if !force, let drawn = state.drawn, now - drawn < .milliseconds(100) { return }
            state.drawn = now
            let text = state.value.render(elapsedSeconds: (now - started).seconds)
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(text)".utf8))
        }
    }
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

