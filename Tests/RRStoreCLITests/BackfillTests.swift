import Foundation
import RRStoreIO
import RRStoreClient
import RRStoreCore
import RRStoreStorage
import Testing
import RRStoreTestSupport

/// `rrstore backfill` into a live `rrstore serve`: the corpus comes back equal, a second
/// run uploads nothing, a checkpoint resumes, a corrupt file is reported and skipped.
@Suite struct BackfillTests {
    struct Summary: Decodable {
        var sessions: Int
        var skipped_sessions: Int
        var failed_sessions: [String]
        var events: Int
        var raw_bytes: Int
        var assets_referenced: Int
        var assets_uploaded: Int
        var asset_bytes_uploaded: Int
        var missing_requests: Int
        var event_requests: Int
        var seconds: Double
    }

    func backfill(_ source: String, server: ServeCrashTests.Server, checkpoint: String, extra: [String] = [],
                  environment: [String: String] = [:]) async throws -> (CLI.Result, Summary?) {
        let result = try await CLI.run(["backfill", source, "--server", "http://127.0.0.1:\(server.port)", "--checkpoint", checkpoint, "--json"] + extra,
                                 environment: environment)
        return (result, try? JSONDecoder().decode(Summary.self, from: result.stdout))
    }

    @Test func theCorpusGoesInOnceAndComesBackEqual() async throws {
        let work = try temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let server = try ServeCrashTests.Server(data: work + "/data")
        defer { server.terminate() }
        let sessions = try Corpus.sessions()

        let (first, summary) = try await backfill(Corpus.directory.path, server: server, checkpoint: work + "/one.checkpoint")
        #expect(first.status == 0, "\(first.stderr)")
        let stats = try #require(summary)
        #expect(stats.sessions == sessions.count)
        #expect(stats.failed_sessions.isEmpty)
        #expect(stats.assets_uploaded > 0 && stats.assets_uploaded < stats.assets_referenced, "repeats are uploaded once")
        for url in sessions {
            let id = "\(url.deletingLastPathComponent().lastPathComponent)_\(url.lastPathComponent.replacingOccurrences(of: ".json.gz", with: ""))"
            let back = try await server.client.readEvents(id)
            #expect(Data(back) == (try Corpus.eventsAsNDJSON(url)), "\(id) reads back equal to its source")
        }

        // A second run (its own checkpoint) finds every asset present and every batch seen.
        let (_, again) = try await backfill(Corpus.directory.path, server: server, checkpoint: work + "/two.checkpoint")
        #expect(again?.assets_uploaded == 0)
        #expect(again?.sessions == sessions.count)
        let recording = try await server.client.recording("debian-handbook_session-001")
        #expect(recording?.eventCount == (try Corpus.eventsAsNDJSON(sessions[0])).filter { $0 == 0x0A }.count, "no event twice")

        // The first checkpoint lists everything: a resumed run has nothing left to do.
        let (_, resumed) = try await backfill(Corpus.directory.path, server: server, checkpoint: work + "/one.checkpoint")
        #expect(resumed?.sessions == 0 && resumed?.event_requests == 0)
    }

    /// A backfill killed mid-run (SIGKILL, some sessions done, one half sent) and started
    /// again with its checkpoint finishes the rest: every session once, whole.
    @Test func anInterruptedRunResumes() async throws {
        let work = try temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let server = try ServeCrashTests.Server(data: work + "/data")
        defer { server.terminate() }
        let sessions = try Corpus.sessions()
        let checkpoint = work + "/cp"

        let arguments = ["backfill", Corpus.directory.path, "--server", "http://127.0.0.1:\(server.port)", "--checkpoint", checkpoint, "--concurrency", "1"]
        // Polls and waits on BlockingIO's threads, not the cooperative pool's.
        let finished = try await BlockingIO.run { () throws -> Int in
            let first = Process()
            first.executableURL = CLI.binary
            first.arguments = arguments
            first.standardError = FileHandle.nullDevice
            first.standardOutput = FileHandle.nullDevice
            try first.run()
            var finished = 0
            for _ in 0..<600 where finished < 3 {
                usleep(20_000)
                finished = (try? String(contentsOfFile: checkpoint, encoding: .utf8))?.split(separator: "\n").count ?? 0
            }
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            return finished
        }
        #expect(finished >= 3 && finished < sessions.count, "killed part-way: \(finished) of \(sessions.count) sessions done")

        let (result, summary) = try await backfill(Corpus.directory.path, server: server, checkpoint: checkpoint)
        #expect(result.status == 0, "\(result.stderr)")
        #expect((summary?.skipped_sessions ?? 0) >= finished, "finished sessions are not loaded again")
        #expect((summary?.sessions ?? 0) + (summary?.skipped_sessions ?? 0) == sessions.count + 2, "the rest are (the 2 manifests are skipped too)")
        for url in sessions {
            let id = "\(url.deletingLastPathComponent().lastPathComponent)_\(url.lastPathComponent.replacingOccurrences(of: ".json.gz", with: ""))"
            #expect(Data(try await server.client.readEvents(id)) == (try Corpus.eventsAsNDJSON(url)), "\(id) whole and once")
        }
    }

    @Test func aCorruptFileIsReportedAndSkipped() async throws {
        let work = try temporaryDirectory().path
        try FileManager.default.createDirectory(atPath: work + "/src/a", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let good = try Corpus.sessions()[0]
        try FileManager.default.copyItem(atPath: good.path, toPath: work + "/src/a/good.json.gz")
        let whole = try Data(contentsOf: good)
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: work + "/src/a/cut.json.gz"))
        try Data("[{\"type\":4,\"data\":{}}, {\"type\": ]".utf8).write(to: URL(fileURLWithPath: work + "/src/broken.json"))
        let server = try ServeCrashTests.Server(data: work + "/data")
        defer { server.terminate() }
        let (result, summary) = try await backfill(work + "/src", server: server, checkpoint: work + "/cp")
        #expect(result.status == 1, "a failed session makes the run exit 1")
        #expect(summary?.sessions == 1)
        #expect(Set(summary?.failed_sessions ?? []) == ["a/cut.json.gz", "broken.json"])
        #expect(result.stderr.contains("a/cut.json.gz") && result.stderr.contains("broken.json"))
        #expect(Data(try await server.client.readEvents("a_good")) == (try Corpus.eventsAsNDJSON(good)))
        #expect(try await server.client.recording("broken") == nil, "nothing of a broken file is stored")
    }


    @Test func packedEventsAreUnpacked() async throws {
        let work = try temporaryDirectory().path
        try FileManager.default.createDirectory(atPath: work + "/src", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        // A session as rrweb's packer leaves it: a JSON array of packed strings (and a few
        // events left as objects), gzipped.
        let url = try Corpus.sessions()[0]
        let events = try EventStream.events(in: try GzipDecoder.decompress(Array(try Data(contentsOf: url))))
        var array: [UInt8] = [UInt8(ascii: "[")]
        for (index, event) in events.enumerated() {
            if index > 0 { array.append(UInt8(ascii: ",")) }
            array += index % 10 == 3 ? event : try PackedEvent.pack(event)
        }
        array.append(UInt8(ascii: "]"))
        try Data(try GzipEncoder.compress(array)).write(to: URL(fileURLWithPath: work + "/src/packed.json.gz"))
        let server = try ServeCrashTests.Server(data: work + "/data")
        defer { server.terminate() }
        let (result, summary) = try await backfill(work + "/src", server: server, checkpoint: work + "/cp")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(summary?.sessions == 1 && summary?.events == events.count)
        #expect(Data(try await server.client.readEvents("packed")) == (try Corpus.eventsAsNDJSON(url)), "unpacked to the recorder's exact text")
    }

    /// The original pipeline's layout: Firehose objects under
    /// `rrweb/recordings/sessionId=<id>/` of a bucket in moto, records one JSON object a
    /// line (or run together), `rrwebEvent` or `events`, some objects gzipped, some events
    /// packed. Every corpus session goes in this way and comes back equal.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["RRSTORE_TEST_S3_ENDPOINT"] != nil || ProcessInfo.processInfo.environment["CI"] == "true"))
    func aFirehoseLayoutInS3IsReadSessionBySession() async throws {
        guard let endpoint = ProcessInfo.processInfo.environment["RRSTORE_TEST_S3_ENDPOINT"] else {
            throw RRStoreError(.invalidConfiguration, "run through scripts/test.sh: it starts moto")
        }
        let bucket = "rrstore-firehose-\(UUID().uuidString.lowercased().prefix(12))"
        let credentials = AWSCredentials(accessKeyID: "a", secretAccessKey: "b")
        let store = try S3BlobStore(configuration: S3Configuration(endpoint: endpoint, bucket: bucket, prefix: "legacy/", credentials: credentials))
        try await store.createBucketIfMissing()
        // Something else in the bucket is left alone.
        _ = try await store.put(try BlobKey("rrweb/recordings/README.txt"), bytes: Array("not a session".utf8))
        _ = try await store.put(try BlobKey("elsewhere/sessionId=x/file"), bytes: Array("{}".utf8))

        let sessions = try Corpus.sessions()
        var expected: [String: Data] = [:]
        for (number, url) in sessions.enumerated() {
            let id = "\(url.deletingLastPathComponent().lastPathComponent)-\(number)"
            let events = try EventStream.events(in: try GzipDecoder.decompress(Array(try Data(contentsOf: url))))
            expected[id] = try Corpus.eventsAsNDJSON(url)
            var objects: [[UInt8]] = [[]]
            var index = 0
            while index < events.count {
                var record = Array("{\"sessionId\":\"\(id)\",".utf8)
                let take: Int
                if index % 3 == 0 {
                    take = 1
                    record += Array("\"sequence\":\(index),\"rrwebEvent\":".utf8) + (index % 7 == 0 ? try PackedEvent.pack(events[index]) : events[index])
                } else {
                    take = min(25, events.count - index)
                    record += Array("\"events\":[".utf8)
                    for (offset, event) in events[index..<(index + take)].enumerated() {
                        if offset > 0 { record.append(UInt8(ascii: ",")) }
                        record += offset % 5 == 4 ? try PackedEvent.pack(event) : event
                    }
                    record.append(UInt8(ascii: "]"))
                }
                record.append(UInt8(ascii: "}"))
                // Firehose runs records together unless the producer adds newlines: both occur.
                if number % 2 == 0 { record.append(UInt8(ascii: "\n")) }
                objects[objects.count - 1] += record
                if objects[objects.count - 1].count > 2 << 20 { objects.append([]) }
                index += take
            }
            for (part, object) in objects.enumerated() where !object.isEmpty {
                let key = try BlobKey("rrweb/recordings/sessionId=\(id)/rrweb-firehose-1-2024-01-01-00-\(part < 10 ? "0" : "")\(part)-00-abc")
                _ = try await store.put(key, bytes: part % 2 == 0 ? try GzipEncoder.compress(object) : object)
            }
        }

        // The original client's envelopes as Firehose kept them: in arrival order (its posts
        // overlap), one delivered twice. Backfill puts them in the client's order, once each.
        let shuffledID = "original-envelopes"
        let first = try EventStream.events(in: try GzipDecoder.decompress(Array(try Data(contentsOf: sessions[0]))))
        expected[shuffledID] = try Corpus.eventsAsNDJSON(sessions[0])
        var arrival = Array(first.indices)
        for i in stride(from: 0, to: arrival.count - 1, by: 3) { arrival.swapAt(i, i + 1) }
        arrival.insert(arrival[arrival.count / 2], at: arrival.count / 2 + 5)
        let envelopes = try arrival.map { index -> [UInt8] in
            Array("{\"sessionId\":\"\(shuffledID)\",\"rrwebEvent\":".utf8) + first[index] + Array(",\"sequence\":\(index)}\n".utf8)
        }.flatMap { $0 }
        _ = try await store.put(try BlobKey("rrweb/recordings/sessionId=\(shuffledID)/rrweb-firehose-1-2024-01-01-00-00-00-abc"), bytes: envelopes)

        let work = try temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let server = try ServeCrashTests.Server(data: work + "/data")
        defer { server.terminate() }
        let (result, summary) = try await backfill("s3://\(bucket)/legacy", server: server, checkpoint: work + "/cp", extra: ["--s3-endpoint", endpoint],
                                             environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(summary?.sessions == sessions.count + 1 && summary?.failed_sessions.isEmpty == true)
        for (id, ndjson) in expected {
            #expect(Data(try await server.client.readEvents(id)) == ndjson, "\(id) reads back equal to its source")
        }
        // Resumable like any other source.
        let (_, again) = try await backfill("s3://\(bucket)/legacy", server: server, checkpoint: work + "/cp", extra: ["--s3-endpoint", endpoint],
                                      environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"])
        #expect(again?.sessions == 0 && again?.skipped_sessions == sessions.count + 1)
        let missingKeys = try await CLI.run(["backfill", "s3://\(bucket)/legacy", "--server", "http://127.0.0.1:\(server.port)"],
                                     environment: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""])
        #expect(missingKeys.status != 0 && missingKeys.stderr.contains("AWS_ACCESS_KEY_ID"), "\(missingKeys.stderr)")
    }
}

/// `rrstore bench` on the whole corpus: what it reports as stored is what is on disk.
@Suite struct BenchTests {
    struct Report: Decodable {
        var sessions: Int
        var events: Int
        var raw_bytes: Int
        var gzip_baseline_bytes: Int
        var stored_bytes: Int
        var stored_over_gzip: Double
        var unique_assets: Int
        var client_asset_uploads: Int
        var archival_zstd_bytes: Int?
        var server_s3_puts: Int
        var replay_gets_inline_per_session: Double
        var replay_gets_url_per_session: Double
        var cumulative: [Point]
        struct Point: Decodable { var sessions: Int; var raw: Int; var gzip: Int; var rrstore: Int; var archival: Int? }
    }

    @Test func storedBytesMatchTheDisk() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-bench-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let result = try await CLI.run(["bench", "--corpus", Corpus.directory.path, "--json", "--keep", work + "/store", "--chart", work + "/chart.svg", "--archival-anchor"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONDecoder().decode(Report.self, from: result.stdout)
        let sessions = try Corpus.sessions()
        #expect(report.sessions == sessions.count)
        let raw = try sessions.reduce(0) { $0 + (try GzipDecoder.decompress(Array(try Data(contentsOf: $1)))).count }
        #expect(report.raw_bytes == raw)
        var onDisk = 0
        let enumerator = FileManager.default.enumerator(atPath: work + "/store")
        while let path = enumerator?.nextObject() as? String {
            let attributes = try FileManager.default.attributesOfItem(atPath: work + "/store/" + path)
            if attributes[.type] as? FileAttributeType == .typeRegular { onDisk += (attributes[.size] as! NSNumber).intValue }
        }
        #expect(report.stored_bytes == onDisk, "stored bytes are the files of the store")
        #expect(abs(report.stored_over_gzip - Double(report.stored_bytes) / Double(report.gzip_baseline_bytes)) < 1e-9)
        #expect(report.client_asset_uploads == report.unique_assets, "each distinct asset uploaded once")
        #expect(report.cumulative.count == sessions.count && report.cumulative.last?.raw == raw)
        let chart = try String(contentsOfFile: work + "/chart.svg", encoding: .utf8)
        #expect(chart.hasPrefix("<svg") && chart.components(separatedBy: "<polyline").count == 4, "gzip alone, the archival bound, rrstore")
        // The archival bound grows with every session, and ends where the closed frames do.
        let archival = report.cumulative.compactMap(\.archival)
        #expect(archival.count == sessions.count && zip(archival, archival.dropFirst()).allSatisfy { $0 < $1 })
        // Packs: a handful of object-store requests per session, not one per asset.
        #expect(report.server_s3_puts <= 5 * report.sessions, "\(report.server_s3_puts) PUTs for \(report.sessions) sessions")
        // A session references ~375 assets (76 unique to it on average): its replay reads a few chunks and blocks.
        #expect(report.replay_gets_inline_per_session >= 1 && report.replay_gets_inline_per_session < 40, "\(report.replay_gets_inline_per_session)")
        #expect(report.replay_gets_url_per_session >= 1 && report.replay_gets_url_per_session < 40, "\(report.replay_gets_url_per_session)")
        let bound = try #require(report.archival_zstd_bytes)
        #expect(bound >= archival.last! && bound < archival.last! + 1024 && bound < report.gzip_baseline_bytes / 2)
    }
}
