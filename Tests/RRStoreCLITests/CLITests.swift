import Foundation
import RRStoreCore
import RRStoreIO
import RRStoreStorage
import Testing

#if canImport(Glibc)
import Glibc
import RRStoreTestSupport
#endif

/// The `rrstore` binary, built beside this test bundle.
enum CLI {
    static let binary: URL = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = exe.deletingLastPathComponent()
        // The bundle may be a directory (rrstorePackageTests.xctest/...) or a plain executable.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("rrstore").path), directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("rrstore")
    }()

    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    /// Runs rrstore with `arguments`, feeding `stdin` from a file if given; `environment`
    /// adds to (or overrides) this process's. The wait is on `BlockingIO`'s threads: a test
    /// blocked in `waitUntilExit` on the cooperative pool (two threads on a two-core machine)
    /// stalls every other test's async work, PostgreSQL clients and embedded servers alike.
    static func run(_ arguments: [String], stdinFile: URL? = nil, stdoutFile: URL? = nil, environment: [String: String] = [:]) async throws -> Result {
        try await BlockingIO.run { try runBlocking(arguments, stdinFile: stdinFile, stdoutFile: stdoutFile, environment: environment) }
    }

    private static func runBlocking(_ arguments: [String], stdinFile: URL?, stdoutFile: URL?, environment: [String: String]) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        // The test environment's RRSTORE_* settings are for the tests, not for the binary.
        for key in merged.keys where key.hasPrefix("RRSTORE_") || key.hasPrefix("AWS_") { merged[key] = nil }
        merged.merge(environment) { $1 }
        process.environment = merged
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorFile) }
        process.standardError = try FileHandle(forWritingTo: errorFile)
        let outputPipe = Pipe()
        if let stdoutFile {
            _ = FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
        } else {
            process.standardOutput = outputPipe
        }
        if let stdinFile { process.standardInput = try FileHandle(forReadingFrom: stdinFile) }
        try process.run()
        // Standard error goes to a file, so reading the output pipe to its end cannot deadlock.
        let output = stdoutFile == nil ? outputPipe.fileHandleForReading.readDataToEndOfFile() : Data()
        process.waitUntilExit()
        let errorText = String(decoding: try Data(contentsOf: errorFile), as: UTF8.self)
        return Result(status: process.terminationStatus, stdout: output, stderr: errorText)
    }


    /// Runs `python3 -c script arguments...` (test tooling: boto3, the OpenAPI validator) on
    /// `BlockingIO`'s threads; answers its status and its output and errors together.
    static func python(_ script: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await BlockingIO.run {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script] + arguments
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
    }
}

@Suite(.serialized) struct CLITests {
    @Test func everyCorpusSessionRoundTripsThroughTheCLIAndAssetsAreWrittenOnce() async throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let assets = work.appendingPathComponent("assets")
        var newAssetsFirstPass = 0
        for session in try Corpus.sessions() {
            let rewritten = work.appendingPathComponent("rewritten.ndjson")
            let rewrite = try await CLI.run(["rewrite", "--loose", "--assets", assets.path, session.path], stdoutFile: rewritten)
            #expect(rewrite.status == 0, "\(session.lastPathComponent): \(rewrite.stderr)")
            #expect(rewrite.stderr.contains("events: "))
            newAssetsFirstPass += FileManager.default.enumerator(atPath: assets.path)?.allObjects.count ?? 0
            let rehydrate = try await CLI.run(["rehydrate", "--assets", assets.path, rewritten.path])
            #expect(rehydrate.status == 0, "\(rehydrate.stderr)")
            #expect(rehydrate.stdout == (try Corpus.eventsAsNDJSON(session)), "\(session.lastPathComponent) comes back byte for byte")
        }
        // A second rewrite of a session writes no new asset.
        let before = try assetFiles(assets)
        let again = try await CLI.run(["rewrite", "--loose", "--assets", assets.path, try Corpus.sessions()[0].path])
        #expect(again.status == 0)
        #expect(try assetFiles(assets) == before)
        #expect(again.stderr.contains("new 0/0"))
        #expect(!again.stderr.contains(" new 1"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: assets.appendingPathComponent(".incoming").path).isEmpty,
                "every staged asset was committed before the command succeeded")
        // Every stored file is named by the SHA-256 of its bytes (of what its gzip holds, for
        // a `.gz`), in the service's layout, and no temporary file is left.
        #expect(!before.isEmpty)
        for path in before {
            #expect(!path.contains(".tmp-"))
            #expect(path.hasPrefix("assets/sha256/"))
            var bytes = [UInt8](try Data(contentsOf: assets.appendingPathComponent(path)))
            if path.hasSuffix(".gz") { bytes = try GzipDecoder.decompress(bytes) }
            #expect(path.replacingOccurrences(of: ".gz", with: "").hasSuffix(SHA256Digest.hash(bytes).hex))
        }
    }

    /// The default: small assets in packs. Every session round-trips, a second rewrite
    /// writes nothing, and the directory holds a few packs instead of a file per asset.
    @Test func everyCorpusSessionRoundTripsThroughPackedAssets() async throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let assets = work.appendingPathComponent("assets")
        let sessions = try Corpus.sessions()
        for session in sessions {
            let rewritten = work.appendingPathComponent("rewritten.ndjson")
            let rewrite = try await CLI.run(["rewrite", "--assets", assets.path, session.path], stdoutFile: rewritten)
            #expect(rewrite.status == 0, "\(session.lastPathComponent): \(rewrite.stderr)")
            let rehydrate = try await CLI.run(["rehydrate", "--assets", assets.path, rewritten.path])
            #expect(rehydrate.status == 0, "\(rehydrate.stderr)")
            #expect(rehydrate.stdout == (try Corpus.eventsAsNDJSON(session)), "\(session.lastPathComponent) comes back byte for byte")
        }
        let packs = try FileManager.default.contentsOfDirectory(atPath: assets.appendingPathComponent("packs").path)
        let loose = try assetFiles(assets)
        #expect(!packs.isEmpty && packs.count <= 2 * sessions.count, "\(packs.count) packs")
        #expect(loose.count < 20, "only assets of 1 MiB and more are files of their own: \(loose.count)")
        let again = try await CLI.run(["rewrite", "--assets", assets.path, sessions[0].path])
        #expect(again.status == 0 && again.stderr.contains("new 0/0") && !again.stderr.contains(" new 1"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: assets.appendingPathComponent("packs").path).count == packs.count,
                "a second rewrite writes no pack")
        #expect(try FileManager.default.contentsOfDirectory(atPath: assets.appendingPathComponent(".incoming").path).isEmpty)
    }

    func assetFiles(_ root: URL) throws -> Set<String> {
        let all = FileManager.default.enumerator(atPath: root.path)?.allObjects.compactMap { $0 as? String } ?? []
        return Set(all.filter { $0.split(separator: "/").last.map { $0.count == 64 || $0.count == 67 } == true || $0.contains(".tmp-") })
    }

    @Test func readsStandardInputAndGivesURLsWhenAsked() async throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let session = try Corpus.sessions()[0]
        let rewritten = work.appendingPathComponent("r.ndjson")
        let rewrite = try await CLI.run(["rewrite", "--assets", work.appendingPathComponent("a").path, "-"], stdinFile: session, stdoutFile: rewritten)
        #expect(rewrite.status == 0, "\(rewrite.stderr)")
        let linked = try await CLI.run(["rehydrate", "--assets", work.appendingPathComponent("a").path, "--url-base", "http://127.0.0.1:8080", rewritten.path])
        #expect(linked.status == 0, "\(linked.stderr)")
        let body = String(decoding: linked.stdout, as: UTF8.self)
        #expect(body.contains("\"rr_dataURL\":\"http://127.0.0.1:8080/assets/sha256:"))
        #expect(!body.contains("data:image/png;base64,"))
    }

    @Test func brokenInputsFailWithAClearMessage() async throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let assets = work.appendingPathComponent("a").path

        let gz = try GzipEncoder.compress(Array(#"[{"type":4,"data":{"href":"x"},"timestamp":1}]"#.utf8))
        let truncated = work.appendingPathComponent("t.json.gz")
        try Data(gz.prefix(gz.count - 6)).write(to: truncated)
        let a = try await CLI.run(["rewrite", "--assets", assets, truncated.path])
        #expect(a.status == 1)
        #expect(a.stderr.contains("invalid_gzip") && a.stderr.contains("truncated"), "\(a.stderr)")

        let invalid = work.appendingPathComponent("bad.json")
        try Data(#"[{"type":4,"data":{"href":"x"},"timestamp":1}, {"type":3,"data":{"x":01}}]"#.utf8).write(to: invalid)
        let b = try await CLI.run(["rewrite", "--assets", assets, invalid.path])
        #expect(b.status == 1)
        #expect(b.stderr.contains("event 2") && b.stderr.contains("invalid_json") && b.stderr.contains("at byte"), "\(b.stderr)")

        let missing = work.appendingPathComponent("m.ndjson")
        try Data(#"{"a":"rrasset:sha256:\#(String(repeating: "ab", count: 32))"}"#.utf8).write(to: missing)
        let c = try await CLI.run(["rehydrate", "--assets", assets, missing.path])
        #expect(c.status == 1)
        #expect(c.stderr.contains("missing_asset"), "\(c.stderr)")

        let d = try await CLI.run(["rewrite", "--assets", assets, work.appendingPathComponent("nope.json").path])
        #expect(d.status == 1)
        #expect(d.stderr.contains("No such file"), "\(d.stderr)")
    }

    /// The "peak memory: N MiB" line of a command's summary.
    func peakMiB(_ stderr: String) -> Int? {
        stderr.split(separator: "\n").first { $0.hasPrefix("peak memory: ") }
            .flatMap { Int($0.dropFirst("peak memory: ".count).split(separator: " ")[0]) }
    }

    @Test func memoryStaysNearTheLargestEventWhateverTheInputSize() async throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        // 64 MiB of ~32 KiB events: pages of a site, each page snapshotted again and again.
        let input = work.appendingPathComponent("big.ndjson")
        _ = FileManager.default.createFile(atPath: input.path, contents: nil)
        let handle = try FileHandle(forWritingTo: input)
        let filler = String(repeating: "lorem ipsum dolor sit amet ", count: 36)
        var written = 0
        var n = 0
        while written < 64 << 20 {
            var chunk = ""
            for _ in 0..<64 {
                n += 1
                let page = n % 50
                let texts = (0..<30).map { #"{"type":3,"textContent":"\#(page) \#($0) \#(filler)","id":\#($0)}"# }.joined(separator: ",")
                chunk += #"{"type":2,"data":{"node":{"type":0,"childNodes":[\#(texts)],"id":1}},"timestamp":\#(n)}"# + "\n"
            }
            let data = Data(chunk.utf8)
            handle.write(data)
            written += data.count
        }
        try handle.close()

        let assets = work.appendingPathComponent("a").path
        let rewritten = work.appendingPathComponent("r.ndjson")
        let rewrite = try await CLI.run(["rewrite", "--assets", assets, input.path], stdoutFile: rewritten)
        #expect(rewrite.status == 0, "\(rewrite.stderr)")
        let back = work.appendingPathComponent("back.ndjson")
        let rehydrate = try await CLI.run(["rehydrate", "--assets", assets, rewritten.path], stdoutFile: back)
        #expect(rehydrate.status == 0, "\(rehydrate.stderr)")
        #expect(FileManager.default.contentsEqual(atPath: input.path, andPath: back.path))
        // The same commands on the first event alone: the binary and runtime's own footprint.
        let one = work.appendingPathComponent("one.ndjson")
        try Data(try Data(contentsOf: input).prefix { $0 != 0x0A } + [0x0A]).write(to: one)
        let oneRewritten = work.appendingPathComponent("one-r.ndjson")
        let rewriteOne = try await CLI.run(["rewrite", "--assets", work.appendingPathComponent("b").path, one.path], stdoutFile: oneRewritten)
        let rehydrateOne = try await CLI.run(["rehydrate", "--assets", work.appendingPathComponent("b").path, oneRewritten.path],
                                       stdoutFile: work.appendingPathComponent("one-back.ndjson"))
        // Largest event ~32 KiB, the input mapped 2 MiB at a time, caches holding this input's
        // few distinct pages, heap pages of 2 MiB: a small constant above the footprint,
        // whatever the input's size.
        let rewritePeak = try #require(peakMiB(rewrite.stderr)), rewriteBase = try #require(peakMiB(rewriteOne.stderr))
        let rehydratePeak = try #require(peakMiB(rehydrate.stderr)), rehydrateBase = try #require(peakMiB(rehydrateOne.stderr))
        #expect(rewritePeak - rewriteBase < 16, "rewrite peaked at \(rewritePeak) MiB (\(rewriteBase) for one event) for a \(written >> 20) MiB input")
        #expect(rehydratePeak - rehydrateBase < 20, "rehydrate peaked at \(rehydratePeak) MiB (\(rehydrateBase) for one event) for a \(written >> 20) MiB input")
    }
}

@Suite struct CheckStorageTests {
    @Test func embeddedDefaultPassesAndReportsBothStores() async throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let result = try await CLI.run(["check-storage", "--data", work.path])
        #expect(result.status == 0, "\(result.stderr)")
        let output = String(decoding: result.stdout, as: UTF8.self)
        #expect(output.contains("blob store (file): put, get, range, list, delete ok"))
        #expect(output.contains("metadata store (sqlite): schema version 8, format \(StoreFormat.current)"))
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("metadata.sqlite").path))
    }

    @Test func badSettingsFailWithAMessageThatSaysWhatToFix() async throws {
        let a = try await CLI.run(["check-storage", "--blob-store", "s3"])
        #expect(a.status != 0)
        #expect(a.stderr.contains("--s3-bucket"), "\(a.stderr)")
        let b = try await CLI.run(["check-storage", "--metadata", "mysql"])
        #expect(b.status != 0)
        #expect(b.stderr.contains("--metadata must be one of sqlite, postgres"), "\(b.stderr)")
        // gc's periods are bounded (the cutoff in milliseconds must not overflow): refused, not a trap.
        for (flag, value) in [("--grace-period", "9999999999999999"), ("--touch-resolution", "9223372036854775807")] {
            let refused = try await CLI.run(["gc", "--data", FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-unused").path, flag, value])
            #expect(refused.status == 64, "\(flag) \(value): \(refused.stderr)")
            #expect(refused.stderr.contains("\(flag) takes"), "\(refused.stderr)")
        }
    }

    @Test func anUnreachablePostgreSQLStopsTheStartWithAMessageInsteadOfHanging() async throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        // Nothing listens on port 1: every connection attempt is refused, and the pool retries.
        let started = Date()
        let result = try await CLI.run(["serve", "--port", "0", "--data", work.path, "--metadata", "postgres",
                                  "--postgres-url", "postgres://rrstore@127.0.0.1:1/rrstore"],
                                 environment: ["RRSTORE_POSTGRES_TIMEOUT": "2"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("PostgreSQL at 127.0.0.1:1 did not answer within 2.0 seconds"), "\(result.stderr.suffix(600))")
        #expect(Date().timeIntervalSince(started) < 30)
        let bad = try await CLI.run(["check-storage", "--postgres-timeout", "0"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--postgres-timeout must be a number of seconds above 0"), "\(bad.stderr)")
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["RRSTORE_TEST_S3_ENDPOINT"] != nil || ProcessInfo.processInfo.environment["CI"] == "true"))
    func s3AndPostgresFromTheEnvironment() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let endpoint = environment["RRSTORE_TEST_S3_ENDPOINT"], let postgres = environment["RRSTORE_TEST_POSTGRES_URL"] else {
            throw RRStoreError(.invalidConfiguration, "run through scripts/test.sh: it starts moto and PostgreSQL")
        }
        // The bucket must exist: create it through the library, then configure the CLI by environment only.
        let bucket = "rrstore-check-\(UUID().uuidString.lowercased().prefix(12))"
        let create = try await CLI.run(["check-storage", "--blob-store", "s3", "--s3-endpoint", endpoint, "--s3-bucket", bucket],
                                 environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"])
        #expect(create.status != 0, "a missing bucket is an error")
        #expect(create.stderr.contains("NoSuchBucket"), "\(create.stderr)")
        let made = try await CLI.python("import boto3,sys; boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='a', aws_secret_access_key='b').create_bucket(Bucket=sys.argv[2])", [endpoint, bucket])
        #expect(made.status == 0, "the bucket is made: \(made.output)")
        let result = try await CLI.run(["check-storage"], environment: [
            "RRSTORE_BLOB_STORE": "s3", "RRSTORE_S3_ENDPOINT": endpoint, "RRSTORE_S3_BUCKET": bucket, "RRSTORE_S3_PREFIX": "deploy",
            "RRSTORE_METADATA": "postgres", "RRSTORE_POSTGRES_URL": postgres,
            "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let output = String(decoding: result.stdout, as: UTF8.self)
        #expect(output.contains("blob store (s3): put, get, range, list, delete ok"))
        #expect(output.contains("metadata store (postgres): schema version 8, format \(StoreFormat.current)"))
    }
}

@Suite struct OpenAPITests {
    @Test func theSpecificationIsValidOpenAPIAndDocumentsEveryReferenceForm() async throws {
        let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("openapi.yaml")
        let (status, text) = try await CLI.python("import sys, yaml; from openapi_spec_validator import validate; validate(yaml.safe_load(open(sys.argv[1]))); print('valid')", [spec.path])
        #expect(status == 0, "openapi-spec-validator: \(text)")
        let body = try String(contentsOf: spec, encoding: .utf8)
        for form in ["rrasset:sha256:<hex>", ";json", ";nested", ";data:<type>;base64", "rrtree:sha256:<hex>"] {
            #expect(body.contains(form), "openapi.yaml documents \(form)")
        }
        for path in ["/recordings:", "/recordings/{id}:", "/recordings/{id}/events:", "/recordings/{id}/screenshot:", "/assets/missing:", "/assets/{digest}:", "/healthz:", "/metrics:"] {
            #expect(body.contains("  \(path)"), "openapi.yaml has \(path)")
        }
    }
}
