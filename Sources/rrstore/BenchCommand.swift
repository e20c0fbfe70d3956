import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import RRStoreClient
import RRStoreCore
import RRStoreServer
import RRStoreStorage
import RRStoreIO

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure dedup ratio, requests, throughput and cost on a corpus, in-process.",
        discussion: """
        Starts the service in-process on an embedded store (files + SQLite) in a temporary \
        directory, loads every session of the corpus through the client library (local \
        rewrite, have-set, uploads of missing assets, event posts), flushes, and reports what \
        is stored on disk against the raw events and against gzip alone (each session \
        gzipped by itself, as Firehose with GZIP would store it), the requests made, and a \
        modeled monthly cost per 1,000 sessions against the original AWS design.
        """
    )

    @Option(help: "A directory of sessions (searched recursively, as backfill does).")
    var corpus: String

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Write an SVG chart of cumulative bytes (raw, gzip alone, rrstore) as sessions are added.")
    var chart: String?

    @Option(help: "Keep the store in this (new or empty) directory instead of a temporary one.")
    var keep: String?

    @Flag(help: """
        Also measure the archival bound in the same run: each site's sessions (a directory's) \
        as one zstd -19 --long=27 stream, what a long-window compressor keeps with no dedup \
        and no way to read or delete one session alone. Slow (~1 MB/s).
        """)
    var archivalAnchor = false

    func run() async throws {
        try await reportingErrors {
            let report = try await Bench(corpus: corpus, keep: keep, archivalAnchor: archivalAnchor).run()
            if let chart { try Data(report.chartSVG().utf8).write(to: URL(fileURLWithPath: chart)) }
            if json {
                print(String(decoding: try report.jsonData(), as: UTF8.self))
            } else {
                print(report.table())
            }
        }
    }
}

struct Bench {
    let corpus: String
    let keep: String?
    var archivalAnchor = false

    struct Point: Codable, Sendable {
        var sessions: Int; var raw: Int; var gzip: Int; var rrstore: Int
        /// The archival bound's cumulative bytes (`--archival-anchor`).
        var archival: Int?
    }

    struct Report: Codable {
        var sessions = 0
        var events = 0
        var raw_bytes = 0
        var gzip_baseline_bytes = 0
        var stored_bytes = 0
        var stored_asset_bytes = 0
        var stored_chunk_bytes = 0
        var stored_metadata_bytes = 0
        /// What `du` counts: the files' allocated blocks and the directories'.
        var disk_usage_bytes = 0
        var stored_over_raw = 0.0
        var stored_over_gzip = 0.0
        /// zstd -19 --long=27 over each site's sessions as one stream (`--archival-anchor`).
        var archival_zstd_bytes: Int?
        var archival_over_gzip: Double?
        var unique_assets = 0
        var asset_refs = 0
        var bytes_saved_by_kind: [String: Int] = [:]
        var client_missing_requests = 0
        var client_asset_uploads = 0
        var client_upload_requests = 0
        var client_event_posts = 0
        var server_s3_puts = 0
        var server_s3_gets = 0
        /// Blob GETs to replay one session on a cold server (no cached asset or block),
        /// averaged over the sessions: its events inline, and with `assets=url` plus a GET
        /// of every asset link the events hold (what a player loads).
        var replay_gets_inline_per_session = 0.0
        var replay_gets_url_per_session = 0.0
        var rewrite_mb_per_s = 0.0
        var ingest_seconds = 0.0
        var monthly_cost_per_1000_sessions: [String: Double] = [:]
        var prices_usd: [String: Double] = [:]
        var cumulative: [Point] = []
    }

    func run() async throws -> Report {
        let sessions = try await BackfillSource.sessions(in: corpus, s3: S3SourceSettings(), environment: [:])
        let directory = keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-bench-\(UUID().uuidString)").path
        try FileSystem.makeDirectories(directory)
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: directory) } }
        var report = Report()

        // Offline pass: per-kind savings and the core's throughput on the same bytes.
        var kinds = KindTally()
        var raws: [[UInt8]] = []
        var gzips: [Int] = []
        var archival = try archivalAnchor ? ArchivalAnchor() : nil
        var archivalSizes: [Int?] = []
        var rewriteSeconds = 0.0
        var rewriting = EventRewriting(options: RewriteOptions())
        var rewritten: [UInt8] = []
        for session in sessions {
            guard case .file(let path) = session.origin else { continue }
            let bytes = try BackfillSource.fileText(path)
            let events = try BackfillSource.fileEvents(bytes)
            guard !events.isEmpty, events.allSatisfy(hasTypeField) else { raws.append([]); gzips.append(0); archivalSizes.append(nil); continue }
            let start = ContinuousClock.now
            for event in events {
                rewritten.removeAll(keepingCapacity: true)
                _ = try event.withUnsafeBytes { try rewriting.rewriteEvent($0, into: &rewritten) { kinds.add($0) } }
            }
            rewriteSeconds += (ContinuousClock.now - start).seconds
            gzips.append(try GzipEncoder.compress(bytes).count)
            raws.append(bytes)
            archivalSizes.append(try archival?.add(bytes, site: (path as NSString).deletingLastPathComponent))
        }
        report.rewrite_mb_per_s = Double(raws.reduce(0) { $0 + $1.count }) / max(rewriteSeconds, 1e-9) / 1e6
        report.bytes_saved_by_kind = kinds.saved

        // The whole pipeline: an in-process server on loopback, loaded through the client.
        let blobs = CountingBlobStore(try FileBlobStore(root: directory + "/blobs"))
        let metadata = try await SQLiteMetadataStore(path: directory + "/metadata.sqlite")
        var configuration = ServerConfiguration()
        configuration.port = 0
        var logger = Logger(label: "rrstore.bench")
        logger.logLevel = .warning
        let state = ServerState(configuration: configuration, blobs: blobs, metadata: metadata, logger: logger)
        let started = ContinuousClock.now
        let sessionList = sessions, rawSessions = raws, gzipSizes = gzips, store = directory, archivalAt = archivalSizes
        let (totals, loaded, cumulative) = try await withRunningServer(state: state) { port in
            let client = RRStoreClient(baseURL: "http://127.0.0.1:\(port)")
            let present = PresentAssets()
            var totals = UploadStats()
            var points: [Point] = []
            var raw = 0, gzip = 0
            for (index, session) in sessionList.enumerated() where !rawSessions[index].isEmpty {
                totals += try await BackfillSource.load(session, client: client, present: present)
                raw += rawSessions[index].count
                gzip += gzipSizes[index]
                // Measured as it would be at rest: events flushed to chunks, the database compacted.
                await Flusher(state: state).flushDue(final: true)
                _ = try await Packer(blobs: blobs, index: metadata, policy: state.configuration.pack).packDue(all: true, now: ServerState.now())
                try await metadata.compact()
                points.append(Point(sessions: points.count + 1, raw: raw, gzip: gzip, rrstore: try Bench.diskBytes(store).total,
                                    archival: index < archivalAt.count ? archivalAt[index] : nil))
            }
            return (totals, points.count, points)
        }  // shutting down flushed every pending event
        report.sessions = loaded
        report.cumulative = cumulative
        report.ingest_seconds = (ContinuousClock.now - started).seconds
        try await metadata.compact()

        let disk = try Bench.diskBytes(directory)
        report.events = totals.events
        report.raw_bytes = raws.reduce(0) { $0 + $1.count }
        report.gzip_baseline_bytes = gzips.reduce(0, +)
        report.stored_bytes = disk.total
        report.stored_asset_bytes = disk.assets
        report.stored_chunk_bytes = disk.chunks
        report.stored_metadata_bytes = disk.metadata
        report.disk_usage_bytes = disk.allocated
        report.stored_over_raw = Double(disk.total) / Double(max(report.raw_bytes, 1))
        report.stored_over_gzip = Double(disk.total) / Double(max(report.gzip_baseline_bytes, 1))
        if let archived = try archival?.finish() {
            report.archival_zstd_bytes = archived
            report.archival_over_gzip = Double(archived) / Double(max(report.gzip_baseline_bytes, 1))
        }
        report.unique_assets = kinds.unique
        report.asset_refs = totals.assetsReferenced
        report.client_missing_requests = totals.missingRequests
        report.client_asset_uploads = totals.assetsUploaded
        report.client_upload_requests = totals.uploadRequests
        report.client_event_posts = totals.eventRequests
        report.server_s3_puts = blobs.counts.puts
        report.server_s3_gets = blobs.counts.gets
        (report.replay_gets_inline_per_session, report.replay_gets_url_per_session) =
            try await Bench.replayGets(sessions.enumerated().filter { !raws[$0.offset].isEmpty }.map(\.element.recordingID),
                                       blobs: blobs, metadata: metadata, configuration: configuration, logger: logger)
        if !report.cumulative.isEmpty { report.cumulative[report.cumulative.count - 1].rrstore = disk.total }
        CostModel.fill(&report)
        return report
    }

    /// Replays each recording on servers of their own (cold caches) over the same stores,
    /// counting blob GETs: inline; and URL mode with every asset link fetched.
    static func replayGets(_ ids: [String], blobs: CountingBlobStore, metadata: any MetadataStore, configuration: ServerConfiguration,
                           logger: Logger) async throws -> (inline: Double, url: Double) {
        func cold(_ body: @escaping @Sendable (RRStoreClient) async throws -> Void) async throws -> Int {
            let state = ServerState(configuration: configuration, blobs: blobs, metadata: metadata, logger: logger)
            let start = blobs.counts.gets
            try await withRunningServer(state: state) { port in try await body(RRStoreClient(baseURL: "http://127.0.0.1:\(port)")) }
            return blobs.counts.gets - start
        }
        var inline = 0, url = 0
        for id in ids {
            inline += try await cold { client in _ = try await client.readEvents(id, assets: .inline) }
            url += try await cold { client in
                let events = try await client.readEvents(id, assets: .url)
                for digest in Set(Bench.assetLinks(in: events)) { _ = try await client.getAsset(digest) }
            }
        }
        let n = Double(max(ids.count, 1))
        return (Double(inline) / n, Double(url) / n)
    }

    /// The digests of `/assets/sha256:<hex>` links in URL-mode events.
    static func assetLinks(in events: [UInt8]) -> [SHA256Digest] {
        let marker = Array("/assets/sha256:".utf8)
        var found: [SHA256Digest] = []
        var index = 0
        while index + marker.count + 64 <= events.count {
            if events[index] == marker[0], Array(events[index..<(index + marker.count)]) == marker,
               let digest = SHA256Digest(parsing: "sha256:" + String(decoding: events[(index + marker.count)..<(index + marker.count + 64)], as: UTF8.self)) {
                found.append(digest)
                index += marker.count + 64
            } else {
                index += 1
            }
        }
        return found
    }

    /// Bytes under the store: asset blobs and packs, event chunks, and the SQLite files
    /// (their sizes), and what `du` counts for all of it (allocated blocks, directories too).
    static func diskBytes(_ directory: String) throws -> (total: Int, assets: Int, chunks: Int, metadata: Int, allocated: Int) {
        var assets = 0, chunks = 0, metadata = 0, allocated = 0
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let path = enumerator?.nextObject() as? String {
            var info = stat()
            // The -shm file is SQLite's shared-memory index, not data (gone when it closes).
            guard lstat(directory + "/" + path, &info) == 0, !path.hasSuffix("-shm") else { continue }
            allocated += Int(info.st_blocks) * 512
            guard info.st_mode & S_IFMT == S_IFREG else { continue }
            let size = Int(info.st_size)
            if path.hasPrefix("blobs/assets/") || path.hasPrefix("blobs/packs/") { assets += size }
            else if path.hasPrefix("blobs/rrweb/") { chunks += size }
            else if path.hasPrefix("metadata.sqlite") { metadata += size }
        }
        return (assets + chunks + metadata, assets, chunks, metadata, allocated)
    }
}

/// Bytes saved per asset kind: every occurrence after the first is a saving.
struct KindTally {
    private var seen = Set<SHA256Digest>()
    var saved: [String: Int] = ["image": 0, "css": 0, "font": 0, "tree": 0, "other": 0]
    var unique: Int { seen.count }

    mutating func add(_ asset: ExtractedAsset) {
        guard !seen.insert(asset.digest).inserted else {
            saved[Self.kind(asset), default: 0] += asset.bytes.count
            return
        }
    }

    static func kind(_ asset: ExtractedAsset) -> String {
        switch asset.kind {
        case .tree: return "tree"
        case .dataURI:
            let type = asset.reference.mediaType ?? ""
            if type.hasPrefix("image/") { return "image" }
            if type.hasPrefix("font/") || type.contains("font") || type.contains("woff") { return "font" }
            return "other"
        case .nestedText: return "css"
        case .text, .jsonText:
            // Stylesheet text has rules: a brace block with a colon inside.
            let bytes = asset.bytes
            if let open = bytes.firstIndex(of: UInt8(ascii: "{")), bytes[open...].contains(UInt8(ascii: ":")),
               bytes.contains(UInt8(ascii: "}")), bytes.first != UInt8(ascii: "<") { return "css" }
            return "other"
        }
    }
}

/// A month of storing and serving, per 1,000 sessions like the corpus's, at AWS us-east-1
/// list prices (printed with the report). Assumptions: each session read back once a
/// month; rrstore's own compute not included (one small instance serves far more).
enum CostModel {
    static let prices: [String: Double] = [
        "s3_storage_per_gb_month": 0.023, "s3_put_per_1000": 0.005, "s3_get_per_1000": 0.0004,
        "api_gateway_per_million": 3.50, "kinesis_shard_hour": 0.015, "kinesis_put_unit_per_million": 0.014,
        "firehose_per_gb": 0.029, "lambda_per_million": 0.20, "lambda_gb_second": 0.0000166667,
        "dynamodb_write_per_million": 1.25, "dynamodb_read_per_million": 0.25,
    ]

    static func fill(_ report: inout Bench.Report) {
        let scale = 1000 / Double(max(report.sessions, 1))
        let gb = 1e9
        // The original design: one API Gateway request and one Kinesis record per event,
        // Firehose delivering uncompressed JSON to S3 in 5 MB objects, a Lambda (1 s, 512 MB)
        // and a DynamoDB read per replay, a DynamoDB write per session.
        let events = Double(report.events) * scale
        let raw = Double(report.raw_bytes) * scale
        let perEventUnits = max(1, (Double(report.raw_bytes) / Double(max(report.events, 1)) / 25_000).rounded(.up))
        let original = events / 1e6 * prices["api_gateway_per_million"]!
            + 730 * prices["kinesis_shard_hour"]!
            + events * perEventUnits / 1e6 * prices["kinesis_put_unit_per_million"]!
            + raw / gb * prices["firehose_per_gb"]!
            + raw / gb * prices["s3_storage_per_gb_month"]!
            + (raw / 5e6).rounded(.up) / 1000 * prices["s3_put_per_1000"]!
            + 1000 / 1e6 * prices["lambda_per_million"]! + 1000 * 0.5 * prices["lambda_gb_second"]!
            + 1000 / 1e6 * (prices["dynamodb_write_per_million"]! + prices["dynamodb_read_per_million"]!)
        // rrstore: what it stores, the PUTs it made, and the GETs of a replay of each session
        // (its chunks and assets, from the bench's counts).
        let stored = Double(report.stored_bytes) * scale
        let puts = Double(report.server_s3_puts) * scale
        let replayGets = Double(report.unique_assets + max(1, report.stored_chunk_bytes / (8 << 20)) * report.sessions) * scale
        let rrstore = stored / gb * prices["s3_storage_per_gb_month"]! + puts / 1000 * prices["s3_put_per_1000"]!
            + replayGets / 1000 * prices["s3_get_per_1000"]!
        report.monthly_cost_per_1000_sessions = ["original_design_usd": (original * 100).rounded() / 100, "rrstore_usd": (rrstore * 10000).rounded() / 10000]
        report.prices_usd = prices
    }
}

extension Bench.Report {
    func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    func table() -> String {
        func mb(_ n: Int) -> String { String(format: "%.1f MB", Double(n) / 1e6) }
        var lines = [
            "sessions                 \(sessions)  (events \(events))",
            "raw events               \(mb(raw_bytes))",
            "gzip alone (per session) \(mb(gzip_baseline_bytes))",
            "rrstore on disk          \(mb(stored_bytes))  = assets \(mb(stored_asset_bytes)) + chunks \(mb(stored_chunk_bytes)) + metadata \(mb(stored_metadata_bytes)); du \(mb(disk_usage_bytes))",
            String(format: "stored / raw             %.3f", stored_over_raw),
            String(format: "stored / gzip            %.3f", stored_over_gzip),
            "unique assets            \(unique_assets)  (references \(asset_refs))",
            "bytes saved by kind      " + bytes_saved_by_kind.sorted { $0.key < $1.key }.map { "\($0.key) \(mb($0.value))" }.joined(separator: ", "),
            "client requests          missing \(client_missing_requests), uploads \(client_asset_uploads) in \(client_upload_requests) requests, event posts \(client_event_posts)",
            "server blob requests     PUT \(server_s3_puts), GET \(server_s3_gets)",
            String(format: "replay GETs / session    inline %.1f, URL mode with every asset link fetched %.1f (cold server)",
                   replay_gets_inline_per_session, replay_gets_url_per_session),
            String(format: "rewrite throughput       %.0f MB/s (in-process, one core)", rewrite_mb_per_s),
            String(format: "monthly cost / 1,000 sessions: original design $%.2f, rrstore $%.4f",
                   monthly_cost_per_1000_sessions["original_design_usd"] ?? 0, monthly_cost_per_1000_sessions["rrstore_usd"] ?? 0),
            "prices (USD): " + prices_usd.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
        ]
        if let archival_zstd_bytes, let archival_over_gzip {
            lines.insert(String(format: "archival bound / gzip    %.3f  (zstd -19 --long=27, each site one stream: \(mb(archival_zstd_bytes)); stored / bound %.3f)",
                                archival_over_gzip, Double(stored_bytes) / Double(max(archival_zstd_bytes, 1))), at: 6)
        }
        lines.append("")
        return lines.joined(separator: "\n")
    }

    /// Cumulative bytes (raw, gzip alone, rrstore) as sessions are added.
    func chartSVG() -> String {
        let width = 720.0, height = 420.0, left = 70.0, bottom = 40.0, top = 30.0, right = 150.0
        // Scaled to gzip alone: on raw's scale rrstore and the archival bound would be one line
        // along the bottom (raw is in the title).
        let maxY = Double(cumulative.map(\.gzip).max() ?? 1)
        let maxX = Double(max(cumulative.count, 1))
        func x(_ i: Int) -> Double { left + (width - left - right) * Double(i) / maxX }
        func y(_ v: Int) -> Double { height - bottom - (height - bottom - top) * Double(v) / maxY }
        func line(_ value: (Bench.Point) -> Int, _ color: String, _ label: String) -> String {
            var coordinates = [String(format: "%.1f,%.1f", x(0), y(0))]
            for (index, point) in cumulative.enumerated() {
                coordinates.append(String(format: "%.1f,%.1f", x(index + 1), y(value(point))))
            }
            let points = coordinates.joined(separator: " ")
            let last = cumulative.last.map { value($0) } ?? 0
            return """
            <polyline fill="none" stroke="\(color)" stroke-width="2.5" points="\(points)"/>
            <text x="\(x(cumulative.count) + 8)" y="\(y(last) + 4)" font-size="13" fill="\(color)">\(label) \(String(format: "%.1f MB", Double(last) / 1e6))</text>
            """
        }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="20" font-size="15">Cumulative bytes stored as sessions are added (raw events: \(String(format: "%.0f MB", Double(cumulative.last?.raw ?? 0) / 1e6)))</text>
        <line x1="\(left)" y1="\(height - bottom)" x2="\(width - right)" y2="\(height - bottom)" stroke="#444"/>
        <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(height - bottom)" stroke="#444"/>
        <text x="\((left + width - right) / 2 - 30)" y="\(height - 8)" font-size="12">sessions</text>
        """
        for tick in stride(from: 0, through: Int(maxX), by: max(1, Int(maxX) / 6)) {
            svg += "<text x=\"\(x(tick) - 4)\" y=\"\(height - bottom + 16)\" font-size=\"11\">\(tick)</text>\n"
        }
        for fraction in [0.25, 0.5, 0.75, 1.0] {
            let value = Int(maxY * fraction)
            svg += "<text x=\"6\" y=\"\(y(value) + 4)\" font-size=\"11\">\(String(format: "%.0f MB", Double(value) / 1e6))</text>\n"
            svg += "<line x1=\"\(left)\" y1=\"\(y(value))\" x2=\"\(width - right)\" y2=\"\(y(value))\" stroke=\"#ddd\"/>\n"
        }
        svg += line({ $0.gzip }, "#ff7f0e", "gzip alone") + "\n"
        if cumulative.allSatisfy({ $0.archival != nil }) {
            svg += line({ $0.archival ?? 0 }, "#2ca02c", "zstd --long") + "\n"
        }
        svg += line({ $0.rrstore }, "#1f77b4", "rrstore") + "\n</svg>\n"
        return svg
    }
}

/// The archival bound: each site's sessions (a directory's files, in order) as one zstd
/// -19 --long=27 stream, measured after every session (a flush) so the chart can follow it.
struct ArchivalAnchor {
    private var encoder: ZstdEncoder
    private var site: String?
    private var closedFrames = 0

    init() throws { encoder = try ZstdEncoder(level: 19, windowLog: 27) }

    /// Cumulative compressed bytes after `session`.
    mutating func add(_ session: [UInt8], site: String) throws -> Int {
        if let current = self.site, current != site {
            // A new site is a new stream: no context from the previous one.
            try encoder.end()
            closedFrames += encoder.totalOut
            encoder = try ZstdEncoder(level: 19, windowLog: 27)
        }
        self.site = site
        try session.withUnsafeBytes { try encoder.write($0) }
        try encoder.flush()
        return closedFrames + encoder.totalOut
    }

    mutating func finish() throws -> Int {
        try encoder.end()
        return closedFrames + encoder.totalOut
    }
}
