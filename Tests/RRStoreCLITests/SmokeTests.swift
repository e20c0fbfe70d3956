import Foundation
import RRStoreCore
import Testing
import RRStoreTestSupport

/// `rrstore smoke` against a live `rrstore serve` with static-token auth on.
@Suite struct SmokeTests {
    @Test func passesWithAGoodTokenAndFailsClearlyWithABadOne() async throws {
        let work = try temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let token = "smoke-token-\(UUID().uuidString)"
        try Data("acme \(SHA256Digest.hash(Array(token.utf8)))\n".utf8).write(to: URL(fileURLWithPath: work + "/tokens"))
        let server = try ServeCrashTests.Server(data: work + "/data", extra: ["--auth", "token", "--tokens-file", work + "/tokens"])
        defer { server.terminate() }
        let url = "http://127.0.0.1:\(server.port)"

        let good = try await CLI.run(["smoke", "--server", url], environment: ["RRSTORE_TOKEN": token])
        let output = String(decoding: good.stdout, as: UTF8.self)
        #expect(good.status == 0, "\(output)\(good.stderr)")
        #expect(output.contains("read back byte for byte") && output.contains("original viewer: events and listing in its form") && output.contains("smoke passed: 11 steps"), "\(output)")
        #expect(!output.contains("FAIL"))

        let kept = try await CLI.run(["smoke", "--server", url, "--token", token, "--keep"])
        #expect(kept.status == 0 && String(decoding: kept.stdout, as: UTF8.self).contains("smoke passed: 10 steps"))

        let bad = try await CLI.run(["smoke", "--server", url, "--token", "not-the-token-0123456789"])
        let refused = String(decoding: bad.stdout, as: UTF8.self)
        #expect(bad.status == 1)
        #expect(refused.contains("FAIL 2. create recording") && refused.contains("401"), "\(refused)")

        // backfill takes the token the same ways.
        let session = try Corpus.sessions()[0].path
        let backfilled = try await CLI.run(["backfill", session, "--server", url, "--checkpoint", work + "/cp1"], environment: ["RRSTORE_TOKEN": token])
        #expect(backfilled.status == 0, "\(backfilled.stderr)")
        let refusedBackfill = try await CLI.run(["backfill", session, "--server", url, "--checkpoint", work + "/cp2"])
        #expect(refusedBackfill.status == 1 && refusedBackfill.stderr.contains("401"), "\(refusedBackfill.stderr)")

        let badConfig = try await CLI.run(["serve", "--port", "0", "--data", work + "/other", "--auth", "jwt"])
        #expect(badConfig.status != 0 && badConfig.stderr.contains("--jwks-url"), "\(badConfig.stderr)")
    }
}
