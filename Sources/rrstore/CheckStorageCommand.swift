import ArgumentParser
import Foundation
import RRStoreCore
import RRStoreStorage

struct CheckStorageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-storage",
        abstract: "Check that the configured blob and metadata stores work, end to end.",
        discussion: """
        Writes, reads, lists and deletes a probe blob (create-only, digest checked), migrates \
        the metadata schema, and creates, appends to and deletes a probe recording. Use it \
        before pointing a deployment at new S3 or PostgreSQL settings.
        """
    )

    @OptionGroup var storage: StorageOptions

    func run() async throws {
        try await reportingErrors {
            let configuration = try storage.resolve()
            let environment = ProcessInfo.processInfo.environment
            let blobs = try configuration.makeBlobStore(environment: environment)
            let probe = Array("rrstore check-storage \(UUID().uuidString)".utf8)
            let digest = SHA256Digest.hash(probe)
            let key = try BlobKey("checks/\(digest.hex)")
            let outcome = try await blobs.put(key, bytes: probe, expecting: BlobExpectation(digest: digest, size: probe.count), createOnly: true)
            guard outcome == .created else { throw RRStoreError(.storageRejected, "the probe blob \(key) already existed") }
            guard try await blobs.get(key) == probe, try await blobs.get(key, range: 7..<20) == Array(probe[7..<20]) else {
                throw RRStoreError(.corruptAsset, "the probe blob came back different")
            }
            guard try await blobs.list(prefix: "checks/\(digest.hex.prefix(10))", after: nil, limit: 10).blobs.map(\.key) == [key] else {
                throw RRStoreError(.storageRejected, "the probe blob is missing from the listing")
            }
            try await blobs.delete(key)
            print("blob store (\(configuration.blobBackend.rawValue)): put, get, range, list, delete ok")

            let version = try await configuration.withMetadataStore { store in
                let tenant = "_rrstore_check", id = "probe-\(UUID().uuidString.prefix(8))"
                _ = try await store.createRecording(RecordingRecord(tenant: tenant, id: id, createdAt: Int64(Date().timeIntervalSince1970 * 1000)))
                _ = try await store.appendEvents(tenant: tenant, recording: id, events: [Array("{}".utf8)], idempotencyKey: "probe", at: 0)
                guard try await store.pendingEvents(tenant: tenant, recording: id, limit: 10).count == 1 else {
                    throw RRStoreError(.database, "the probe event was not stored")
                }
                _ = try await store.deleteRecording(tenant: tenant, id: id)
                return (try await store.schemaVersion(), try await store.storeFormat())
            }
            print("metadata store (\(configuration.metadataBackend.rawValue)): schema version \(version.0), format \(version.1); create, append, delete ok")
        }
    }
}
