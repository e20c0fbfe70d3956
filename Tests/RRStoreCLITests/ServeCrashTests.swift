import Foundation
import RRStoreIO
import RRStoreClient
import RRStoreCore
import Synchronization
import Testing
import RRStoreTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `rrstore serve` as a process: started, loaded with appends, killed with SIGKILL right
/// after acknowledgements, restarted on the same data directory. Every acknowledged event
/// must be there exactly once; a batch in flight at the kill is all there or not at all.
@Suite struct ServeCrashTests {
    final class Server: @unchecked Sendable {
        let process = Process()
        let port: Int

        init(data: String, extra: [String] = []) throws {
            process.executableURL = CLI.binary
            process.arguments = ["serve", "--port", "0", "--data", data, "--flush-bytes", "4000", "--flush-idle", "0.3", "--log-level", "notice",
                                 "--pack-level", "3"] + extra
            var environment = ProcessInfo.processInfo.environment
            for key in environment.keys where key.hasPrefix("RRSTORE_") || key.hasPrefix("AWS_") { environment[key] = nil }
            process.environment = environment
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-serve-\(UUID().uuidString).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: log)
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // The notice line names the port the kernel picked.
            var found: Int?
            for _ in 0..<300 where found == nil {
                let text = String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self)
                if let range = text.range(of: "listening on http://127.0.0.1:") {
                    found = Int(text[range.upperBound...].prefix { $0.isNumber })
                } else {
                    guard process.isRunning else { throw RRStoreError(.io, "rrstore serve exited: \(text)") }
                    usleep(50_000)
                }
            }
            guard let found else { throw RRStoreError(.io, "rrstore serve did not report its port within 15 s") }
            port = found
        }

        var client: RRStoreClient { RRStoreClient(baseURL: "http://127.0.0.1:\(port)", retry: .init(attempts: 1)) }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func terminate() {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }

    static func batch(_ writer: Int, _ number: Int, size: Int) -> [UInt8] {
        let events = (0..<size).map { i in
            #"{"type":5,"data":{"tag":"crash","writer":\#(writer),"batch":\#(number),"i":\#(i),"pad":"\#(String(repeating: "p", count: 200))"},"timestamp":\#(number * 100 + i)}"#
        }
        return Array(("[" + events.joined(separator: ",") + "]").utf8)
    }

    @Test func everyAcknowledgedEventSurvivesSIGKILL() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-crash-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let first = try Server(data: data)
        _ = try await first.client.createRecording(id: "crashy")

        final class Tally: Sendable {
            let acknowledged = Mutex<[String: Int]>([:])   // "writer/batch" -> events in it
            let attempted = Mutex<[String: Int]>([:])
        }
        let tally = Tally()
        let batchSize = 7
        // Three writers append until the server dies under them.
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<3 {
                group.addTask {
                    let client = first.client
                    for number in 0..<10_000 {
                        let key = "\(writer)/\(number)"
                        tally.attempted.withLock { $0[key] = batchSize }
                        do {
                            _ = try await client.appendRawEvents("crashy", body: Self.batch(writer, number, size: batchSize), idempotencyKey: "w\(writer)-b\(number)")
                            tally.acknowledged.withLock { $0[key] = batchSize }
                        } catch {
                            return  // the server is gone
                        }
                    }
                }
            }
            group.addTask {
                // Kill right after acknowledgements have been flowing for a while (and the
                // flusher has written chunks meanwhile).
                func chunkWritten() -> Bool {
                    let chunks = FileManager.default.enumerator(atPath: data + "/blobs/rrweb")?.allObjects as? [String] ?? []
                    return chunks.contains { $0.hasSuffix(".jsonl.zst") }
                }
                while tally.acknowledged.withLock({ $0.count }) < 60 || !chunkWritten() {
                    try? await Task.sleep(for: .milliseconds(5))
                }
                first.kill9()
            }
        }

        let second = try Server(data: data)
        defer { second.terminate() }
        let acked = tally.acknowledged.withLock { $0 }
        let tried = tally.attempted.withLock { $0 }
        #expect(acked.count >= 60)
        let chunks = FileManager.default.enumerator(atPath: data + "/blobs/rrweb")?.allObjects as? [String] ?? []
        #expect(chunks.contains { $0.hasSuffix(".jsonl.zst") }, "the flusher wrote chunks before the kill")
        let text = try await second.client.readEvents("crashy")
        var seen: [String: [Int]] = [:]
        for line in text.split(separator: UInt8(ascii: "\n")) {
            let object = try JSONSerialization.jsonObject(with: Data(line)) as! [String: Any]
            let fields = object["data"] as! [String: Any]
            seen["\(fields["writer"] as! Int)/\(fields["batch"] as! Int)", default: []].append(fields["i"] as! Int)
        }
        for (key, size) in acked {
            #expect(seen[key] == Array(0..<size), "acknowledged batch \(key) must be there once, whole and in order; found \(seen[key] ?? [])")
        }
        for (key, indices) in seen {
            #expect(tried[key] != nil, "batch \(key) was never sent")
            #expect(indices == Array(0..<batchSize), "batch \(key) is all there or not at all; found \(indices)")
        }
        #expect(try await second.client.recording("crashy")?.eventCount == seen.values.reduce(0) { $0 + $1.count })
        // A writer retrying its in-flight batch after the restart does not double it.
        for (key, _) in tried where acked[key] == nil {
            let parts = key.split(separator: "/").map { Int($0)! }
            _ = try await second.client.appendRawEvents("crashy", body: Self.batch(parts[0], parts[1], size: batchSize), idempotencyKey: "w\(parts[0])-b\(parts[1])")
        }
        let after = try await second.client.readEvents("crashy").split(separator: UInt8(ascii: "\n")).count
        #expect(after == tried.count * batchSize, "each batch exactly once after retries")
    }

    /// Packing's durability: small assets uploaded, and assets cut out of posted events,
    /// are staged in the metadata store and packed in the background (here every 50 ms, a
    /// pack per 20 KB). SIGKILL lands while both go on: after a restart every acknowledged
    /// asset reads back byte for byte, and every acknowledged batch with its assets.
    @Test func everyAcknowledgedAssetSurvivesSIGKILLWhilePacking() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-pack-crash-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let packing = ["--pack-min-bytes", "20000", "--pack-age", "0.2", "--pack-interval", "0.05", "--pack-block", "16384"]
        let first = try Server(data: data, extra: packing)
        _ = try await first.client.createRecording(id: "packed")

        final class Tally: Sendable {
            let uploads = Mutex<[SHA256Digest: [UInt8]]>([:])
            let batches = Mutex<[Int: [UInt8]]>([:])
            var count: Int { uploads.withLock { $0.count } + batches.withLock { $0.count } }
        }
        let tally = Tally()
        func asset(_ writer: Int, _ number: Int) -> [UInt8] {
            Array("{\"writer\":\(writer),\"asset\":\(number),\"text\":\"\(String(repeating: "tree text \(number) ", count: 200))\"}".utf8)
        }
        func event(_ number: Int) -> [UInt8] {
            Array(#"{"type":5,"data":{"tag":"big","payload":"\#(String(repeating: "cut out \(number) ", count: 300))"},"timestamp":\#(number)}"#.utf8)
        }
        func packsWritten() -> Bool {
            (try? FileManager.default.contentsOfDirectory(atPath: data + "/blobs/packs"))?.isEmpty == false
        }
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<2 {
                group.addTask {
                    let client = first.client
                    for number in 0..<100_000 {
                        let bytes = asset(writer, number)
                        do {
                            _ = try await client.putAsset(SHA256Digest.hash(bytes), bytes: bytes)
                            tally.uploads.withLock { $0[SHA256Digest.hash(bytes)] = bytes }
                        } catch { return }
                    }
                }
            }
            group.addTask {
                let client = first.client
                for number in 0..<100_000 {
                    do {
                        _ = try await client.appendRawEvents("packed", body: event(number), idempotencyKey: "e\(number)")
                        tally.batches.withLock { $0[number] = event(number) }
                    } catch { return }
                }
            }
            group.addTask {
                // Kill once packs exist (or after a minute without any: the expectation below fails).
                let deadline = ContinuousClock.now + .seconds(60)
                while (tally.count < 150 || !packsWritten()) && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
                first.kill9()
            }
        }
        #expect(packsWritten(), "packs were written before the kill")

        let second = try Server(data: data, extra: packing)
        defer { second.terminate() }
        let uploads = tally.uploads.withLock { $0 }, batches = tally.batches.withLock { $0 }
        #expect(uploads.count > 50 && batches.count > 20)
        for (digest, bytes) in uploads {
            let read = try await second.client.send("GET", "/assets/\(digest)")
            #expect(read.status == 200 && read.body == bytes, "acknowledged upload \(digest) reads back")
        }
        let lines = try await second.client.readEvents("packed").split(separator: UInt8(ascii: "\n")).map(Array.init)
        for (number, bytes) in batches {
            #expect(lines.contains(bytes), "acknowledged batch \(number) reads back with its asset")
        }
        // And again once the restarted server has packed what was staged at the kill.
        try await Task.sleep(for: .milliseconds(600))
        for (digest, bytes) in uploads.prefix(40) {
            #expect(try await second.client.send("GET", "/assets/\(digest)").body == bytes)
        }
    }

    /// `rrstore repack` killed with SIGKILL mid-run and started again: it finishes the job,
    /// and every corpus session then reads back byte for byte from a server on the store.
    @Test func repackKilledAndRunAgainLosesNothing() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-repack-crash-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let sessions = try Corpus.sessions()
        let old = try Server(data: data, extra: ["--pack-threshold", "0"])  // every asset one object, as before packs
        for url in sessions {
            _ = try await old.client.createRecording(id: Corpus.recordingID(url))
            _ = try await old.client.appendRawEvents(Corpus.recordingID(url), body: Array(try Data(contentsOf: url)), gzipped: true)
        }
        old.terminate()
        func looseFiles() -> Int {
            (FileManager.default.enumerator(atPath: data + "/blobs/assets")?.allObjects as? [String] ?? []).filter { $0.count > 60 }.count
        }
        let before = looseFiles()
        #expect(before > 1000)

        // Killed once it has moved a few pages.
        // Reads the progress and waits on BlockingIO's threads, not the cooperative pool's.
        try await BlockingIO.run {
            let killed = Process()
            killed.executableURL = CLI.binary
            killed.arguments = ["repack", "--data", data, "--page-size", "100", "--pack-level", "3"]
            let progress = Pipe()
            killed.standardError = progress
            killed.standardOutput = FileHandle.nullDevice
            try killed.run()
            var heard = ""
            while heard.components(separatedBy: "repack:").count < 4 {
                let piece = progress.fileHandleForReading.availableData
                guard !piece.isEmpty else { break }
                heard += String(decoding: piece, as: UTF8.self)
            }
            kill(killed.processIdentifier, SIGKILL)
            killed.waitUntilExit()
        }
        let midway = looseFiles()
        #expect(midway < before && midway > 0, "killed part way: \(midway) of \(before) left")

        let resumed = try await CLI.run(["repack", "--data", data, "--pack-level", "3"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let summary = String(decoding: resumed.stdout, as: UTF8.self)
        #expect(summary.contains(" 0 damaged"), "\(summary)")
        let server = try Server(data: data)
        defer { server.terminate() }
        for url in sessions {
            let expected = try expectedNDJSON(try GzipDecoder.decompress(Array(try Data(contentsOf: url))))
            #expect(try await server.client.readEvents(Corpus.recordingID(url)) == expected, "\(Corpus.recordingID(url)) after repack")
        }
        #expect(looseFiles() < before / 50, "\(looseFiles()) loose objects left (the large ones)")
    }

    /// A server's data directory, its small assets in packs, serves the offline
    /// `rrstore rehydrate --assets DIR/blobs`: the packs are found through their trailers.
    @Test func theOfflineRehydrateReadsAServersPacks() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-packs-offline-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let sessions = try Corpus.sessions()
        let server = try Server(data: data)
        for url in sessions {
            _ = try await server.client.createRecording(id: Corpus.recordingID(url))
            _ = try await server.client.appendRawEvents(Corpus.recordingID(url), body: Array(try Data(contentsOf: url)), gzipped: true)
        }
        server.terminate()  // a graceful stop packs what is staged
        let packs = try FileManager.default.contentsOfDirectory(atPath: data + "/blobs/packs")
        #expect(!packs.isEmpty)
        let scratch = data + "/scratch"
        for url in sessions {
            let rewritten = URL(fileURLWithPath: data + "/rewritten.ndjson")
            #expect(try await CLI.run(["rewrite", "--assets", scratch, url.path], stdoutFile: rewritten).status == 0)
            let rehydrated = try await CLI.run(["rehydrate", "--assets", data + "/blobs", rewritten.path])
            #expect(rehydrated.status == 0, "\(rehydrated.stderr)")
            #expect(rehydrated.stdout == (try Corpus.eventsAsNDJSON(url)), "\(url.lastPathComponent) from the server's packs, byte for byte")
        }
    }
}
