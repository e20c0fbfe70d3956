import Foundation
import RRStoreIO
import RRStoreClient
import RRStoreCore
import Testing
import RRStoreTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `rrstore gc` killed in the middle of its sweep and of a pack rewrite, then run again:
/// nothing live is lost, and the second run finishes what the killed ones left.
@Suite struct GCCrashTests {
    /// Runs `rrstore gc` until it reports it stalled at `point`, then SIGKILLs it (on
    /// `BlockingIO`'s threads: it waits on a pipe and a process).
    static func killGC(_ data: String, at point: String) async throws -> String {
        try await BlockingIO.run { try killGCBlocking(data, at: point) }
    }

    private static func killGCBlocking(_ data: String, at point: String) throws -> String {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["gc", "--data", data, "--grace-period", "0", "--touch-resolution", "0", "--rewrite-below", "0.95", "--lease-seconds", "1"]
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("RRSTORE_") { environment[key] = nil }
        environment["RRSTORE_GC_STALL"] = point
        process.environment = environment
        let progress = Pipe()
        process.standardError = progress
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var heard = ""
        while !heard.contains("gc: stalled at \(point)") {
            let piece = progress.fileHandleForReading.availableData
            guard !piece.isEmpty else { break }
            heard += String(decoding: piece, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // The killed run's lease (renewed at the stall) lapses before the next one starts.
        usleep(1_200_000)
        return heard
    }

    @Test func gcKilledDuringTheSweepAndDuringAPackRewriteLosesNothing() async throws {
        try await HeavyTests.withTurn { try await killedAndRunAgain() }
    }

    private func killedAndRunAgain() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-gc-crash-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let sessions = try Corpus.sessions()
        let kept = sessions.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        let server = try ServeCrashTests.Server(data: data)
        for url in sessions {
            _ = try await server.client.createRecording(id: Corpus.recordingID(url))
            _ = try await server.client.appendRawEvents(Corpus.recordingID(url), body: Array(try Data(contentsOf: url)), gzipped: true)
        }
        for url in sessions where !kept.contains(url) { #expect(try await server.client.deleteRecording(Corpus.recordingID(url))) }
        server.terminate()  // flushes and packs

        // Killed after a sweep batch's rows went (their objects not yet), then, run again,
        // after the rewritten pack was indexed (the old one not yet deleted).
        let sweep = try await Self.killGC(data, at: "sweep")
        #expect(sweep.contains("gc: stalled at sweep"), "\(sweep)")
        let pack = try await Self.killGC(data, at: "pack")
        #expect(pack.contains("gc: stalled at pack"), "\(pack)")

        let finished = try await CLI.run(["gc", "--data", data, "--grace-period", "0", "--touch-resolution", "0", "--rewrite-below", "0.95", "--json"])
        #expect(finished.status == 0, "\(finished.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(finished.stdout)) as? [String: Any])
        // The killed rewrite left the old pack (its row emptied, its object still there).
        #expect(report["packsDeleted"] as? Int ?? 0 >= 1 && report["packBytesReclaimed"] as? Int ?? 0 > 0,
                "the run after the killed ones deletes the pack the killed rewrite left: \(report)")

        let again = try await CLI.run(["gc", "--data", data, "--grace-period", "0", "--touch-resolution", "0", "--rewrite-below", "0.95", "--json"])
        let quiet = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout)) as? [String: Any])
        #expect((quiet["assets"] as? [String: Any])?["count"] as? Int == 0 && quiet["packsRewritten"] as? Int == 0
                && (quiet["orphans"] as? [String: Any])?["count"] as? Int == 0, "nothing left to do: \(quiet)")

        let after = try ServeCrashTests.Server(data: data)
        defer { after.terminate() }
        for url in kept {
            let expected = try expectedNDJSON(try GzipDecoder.decompress(Array(try Data(contentsOf: url))))
            #expect(try await after.client.readEvents(Corpus.recordingID(url)) == expected, "\(Corpus.recordingID(url)) after the killed collections")
        }
    }
}
