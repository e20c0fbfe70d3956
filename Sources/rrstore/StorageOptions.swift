import ArgumentParser
import Foundation
import RRStoreStorage

/// Where data lives: flags first, then `RRSTORE_*` environment variables, then defaults.
struct StorageOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory of the embedded default: blobs and SQLite (env RRSTORE_DATA; default ./rrstore-data).")
    var data: String?

    @Option(name: .long, help: "Blob store: file or s3 (env RRSTORE_BLOB_STORE; default file).")
    var blobStore: String?

    @Option(name: .long, help: "S3 endpoint URL (env RRSTORE_S3_ENDPOINT; default https://s3.<region>.amazonaws.com).")
    var s3Endpoint: String?

    @Option(name: .long, help: "S3 bucket (env RRSTORE_S3_BUCKET).")
    var s3Bucket: String?

    @Option(name: .long, help: "S3 region (env RRSTORE_S3_REGION; default us-east-1).")
    var s3Region: String?

    @Option(name: .long, help: "Key prefix inside the bucket (env RRSTORE_S3_PREFIX).")
    var s3Prefix: String?

    @Option(name: .long, help: "Addressing: path (endpoint/bucket/key) or virtual (bucket.endpoint/key) (env RRSTORE_S3_ADDRESSING; default path).")
    var s3Addressing: String?

    @Option(name: .long, help: "Metadata store: sqlite or postgres (env RRSTORE_METADATA; default sqlite).")
    var metadata: String?

    @Option(name: .long, help: "PostgreSQL URL, postgres://user:password@host:port/database (env RRSTORE_POSTGRES_URL).")
    var postgresURL: String?

    @Option(name: .long, help: "Seconds a metadata operation may wait for PostgreSQL (e.g. while it is unreachable) before failing (env RRSTORE_POSTGRES_TIMEOUT; default 30).")
    var postgresTimeout: Double?

    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> StorageConfiguration {
        var configuration = StorageConfiguration()
        if let data = environment.setting(data, or: "RRSTORE_DATA") { configuration.dataDirectory = data }
        if let backend = environment.setting(blobStore, or: "RRSTORE_BLOB_STORE") {
            guard let parsed = StorageConfiguration.BlobBackend(rawValue: backend) else {
                throw ValidationError("--blob-store must be file or s3, not '\(backend)'")
            }
            configuration.blobBackend = parsed
        }
        configuration.s3Endpoint = environment.setting(s3Endpoint, or: "RRSTORE_S3_ENDPOINT")
        configuration.s3Bucket = environment.setting(s3Bucket, or: "RRSTORE_S3_BUCKET")
        if let region = environment.setting(s3Region, or: "RRSTORE_S3_REGION") { configuration.s3Region = region }
        if let prefix = environment.setting(s3Prefix, or: "RRSTORE_S3_PREFIX") { configuration.s3Prefix = prefix }
        if let addressing = environment.setting(s3Addressing, or: "RRSTORE_S3_ADDRESSING") {
            guard addressing == "path" || addressing == "virtual" else {
                throw ValidationError("--s3-addressing must be path or virtual, not '\(addressing)'")
            }
            configuration.s3PathStyle = addressing == "path"
        }
        if let backend = environment.setting(metadata, or: "RRSTORE_METADATA") {
            guard let parsed = StorageConfiguration.MetadataBackend(rawValue: backend) else {
                throw ValidationError("--metadata must be sqlite or postgres, not '\(backend)'")
            }
            configuration.metadataBackend = parsed
        }
        configuration.postgresURL = environment.setting(postgresURL, or: "RRSTORE_POSTGRES_URL")
        if let timeout = postgresTimeout.map({ "\($0)" }) ?? environment.setting(nil, or: "RRSTORE_POSTGRES_TIMEOUT") {
            guard let seconds = Double(timeout), seconds > 0, seconds.isFinite else {
                throw ValidationError("--postgres-timeout must be a positive number of seconds, not '\(timeout)'")
            }
            configuration.postgresTimeout = .milliseconds(Int64(seconds * 1000))
        }
        return configuration
    }
}
