import Foundation
import RRStoreCore
import RRStoreStorage
import Testing

/// The real S3-speaking servers `scripts/test.sh` starts on loopback (moto), handed over in
/// the environment. Under CI=true these tests run and fail if a server is missing.
enum S3TestServers {
    static let environment = ProcessInfo.processInfo.environment
    static let isCI = environment["CI"] == "true"
    static var endpoint: String? { environment["RRSTORE_TEST_S3_ENDPOINT"] }
    static var faultyEndpoint: String? { environment["RRSTORE_TEST_S3_FAULTY_ENDPOINT"] }
    static var authEndpoint: String? { environment["RRSTORE_TEST_S3_AUTH_ENDPOINT"] }
    static var available: Bool { endpoint != nil || isCI }

    static func require(_ value: String?, _ name: String) throws -> String {
        guard let value, !value.isEmpty else {
            throw RRStoreError(.invalidConfiguration, "\(name) is not set: run the tests through scripts/test.sh, which starts moto on loopback")
        }
        return value
    }

    static func bucketName() -> String { "rrstore-test-\(UUID().uuidString.lowercased().prefix(18))" }

    static func store(endpoint: String, bucket: String = bucketName(), prefix: String = "",
                      credentials: AWSCredentials = AWSCredentials(accessKeyID: "test", secretAccessKey: "test"),
                      tune: (inout S3Configuration) -> Void = { _ in }) async throws -> S3BlobStore {
        var configuration = S3Configuration(endpoint: endpoint, bucket: bucket, prefix: prefix, credentials: credentials)
        configuration.multipartThreshold = 6 << 20
        configuration.partSize = 5 << 20
        tune(&configuration)
        let store = try S3BlobStore(configuration: configuration)
        try await store.createBucketIfMissing()
        return store
    }
}

@Suite(.enabled(if: S3TestServers.available, "needs moto: run scripts/test.sh")) struct S3BlobStoreTests {
    @Test func conformance() async throws {
        let store = try await S3TestServers.store(endpoint: try S3TestServers.require(S3TestServers.endpoint, "RRSTORE_TEST_S3_ENDPOINT"))
        try await BlobStoreConformance(store: store, prefix: "t/").run()
    }

    @Test func conformanceUnderAKeyPrefix() async throws {
        let endpoint = try S3TestServers.require(S3TestServers.endpoint, "RRSTORE_TEST_S3_ENDPOINT")
        let bucket = S3TestServers.bucketName()
        let store = try await S3TestServers.store(endpoint: endpoint, bucket: bucket, prefix: "deploy-a/")
        try await BlobStoreConformance(store: store, prefix: "t/").run()
        // Another deployment on the same bucket sees none of it.
        let other = try await S3TestServers.store(endpoint: endpoint, bucket: bucket, prefix: "deploy-b/")
        #expect(try await other.listAll(prefix: "").isEmpty)
        #expect(try await other.head(try BlobKey("t/create/once")) == nil)
    }

    @Test func virtualHostedAddressing() async throws {
        // libcurl resolves *.localhost to loopback by itself, so bucket.localhost:port reaches moto.
        let endpoint = try S3TestServers.require(S3TestServers.endpoint, "RRSTORE_TEST_S3_ENDPOINT")
            .replacingOccurrences(of: "127.0.0.1", with: "localhost")
        let store = try await S3TestServers.store(endpoint: endpoint) { $0.pathStyle = false }
        let key = try BlobKey("virtual/hosted.bin")
        #expect(try await store.put(key, bytes: Array("by host".utf8), expecting: nil, createOnly: true) == .created)
        #expect(try await store.get(key) == Array("by host".utf8))
        #expect(try await store.list(prefix: "virtual/", after: nil, limit: 10).blobs.map(\.key) == [key])
        // The same object is visible path-style: the bucket was named by the host.
        var pathStyle = store.configuration
        pathStyle.pathStyle = true
        #expect(try await S3BlobStore(configuration: pathStyle).get(key) == Array("by host".utf8))
    }

    @Test func everyOperationSucceedsThroughInjectedFaultsAndNothingIsCorrupt() async throws {
        let faulty = try S3TestServers.require(S3TestServers.faultyEndpoint, "RRSTORE_TEST_S3_FAULTY_ENDPOINT")
        let store = try await S3TestServers.store(endpoint: faulty) { configuration in
            configuration.maxAttempts = 10
            configuration.baseDelaySeconds = 0.01
            configuration.maxDelaySeconds = 0.1
            configuration.stallSeconds = 1
        }
        try await BlobStoreConformance(store: store, prefix: "faults/").run()
        // The proxy did inject every kind of fault.
        let statsPath = try S3TestServers.require(S3TestServers.environment["RRSTORE_TEST_S3_FAULT_STATS"], "RRSTORE_TEST_S3_FAULT_STATS")
        let stats = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: statsPath))) as? [String: Int] ?? [:]
        for fault in ["slowdown", "reset", "stall", "truncate"] {
            #expect((stats[fault] ?? 0) > 0, "the proxy injected \(fault): \(stats)")
        }
        // Read back what went up through the faults, straight from the server.
        let direct = try S3BlobStore(configuration: S3Configuration(
            endpoint: try S3TestServers.require(S3TestServers.endpoint, "RRSTORE_TEST_S3_ENDPOINT"),
            bucket: store.configuration.bucket, credentials: store.configuration.credentials))
        for blob in try await direct.listAll(prefix: "faults/") {
            let bytes = try await direct.get(blob.key)
            #expect(bytes.count == blob.size, "\(blob.key) is whole")
            if blob.key.rawValue.hasPrefix("faults/concurrent/") {
                #expect(SHA256Digest.hash(bytes).hex == blob.key.rawValue.split(separator: "/").last.map(String.init))
            }
        }
    }

    @Test func retriesGiveUpWithAClearError() async throws {
        // Nothing listens on port 9 of loopback.
        var configuration = S3Configuration(endpoint: "http://127.0.0.1:9", bucket: "b", credentials: AWSCredentials(accessKeyID: "a", secretAccessKey: "b"))
        configuration.maxAttempts = 3
        configuration.baseDelaySeconds = 0.001
        let store = try S3BlobStore(configuration: configuration)
        await #expect {
            try await store.put(try BlobKey("x"), bytes: [1])
        } throws: { error in
            guard let error = error as? RRStoreError else { return false }
            return error.code == .storageUnavailable && error.message.contains("after 3 attempt(s)") && error.message.contains("reachable")
        }
    }

    @Test func signaturesAreCheckedByTheServer() async throws {
        let endpoint = try S3TestServers.require(S3TestServers.authEndpoint, "RRSTORE_TEST_S3_AUTH_ENDPOINT")
        let key = try S3TestServers.require(S3TestServers.environment["RRSTORE_TEST_S3_AUTH_KEY"], "RRSTORE_TEST_S3_AUTH_KEY")
        let secret = try S3TestServers.require(S3TestServers.environment["RRSTORE_TEST_S3_AUTH_SECRET"], "RRSTORE_TEST_S3_AUTH_SECRET")
        let good = AWSCredentials(accessKeyID: key, secretAccessKey: secret)
        let store = try await S3TestServers.store(endpoint: endpoint, credentials: good)
        let blob = try BlobKey("signed/object.bin")
        #expect(try await store.put(blob, bytes: Array("signed".utf8), expecting: nil, createOnly: true) == .created)
        #expect(try await store.get(blob, range: 1..<4) == Array("ign".utf8))
        // A prefix without '/': moto, unlike AWS, checks list signatures over an unencoded
        // '/' in the query (our encoding is AWS's, checked against its examples in SigV4Tests).
        #expect(try await store.list(prefix: "signed", after: nil, limit: 10).blobs.map(\.key) == [blob])
        try await store.delete(blob)

        let forged = try S3BlobStore(configuration: S3Configuration(endpoint: endpoint, bucket: store.configuration.bucket,
                                                                   credentials: AWSCredentials(accessKeyID: key, secretAccessKey: secret + "x")))
        await #expect {
            try await forged.put(blob, bytes: [1])
        } throws: { error in
            guard let error = error as? RRStoreError else { return false }
            return error.code == .storageRejected && error.message.contains("403") && error.message.contains("SignatureDoesNotMatch")
        }
    }
}
