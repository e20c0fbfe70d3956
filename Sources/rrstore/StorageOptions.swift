import ArgumentParser
import Foundation
import RRStoreStorage

/// Where data lives (see `StorageSettings`): flags first, then `RRSTORE_*` variables, then
/// defaults.
struct StorageOptions: ParsableArguments {
    typealias S = StorageSettings
    @Option(help: S.table.help("data")) var data: String?
    @Option(help: S.table.help("blob-store")) var blobStore: String?
    @Option(help: S.table.help("stage")) var stage: String?
    @Option(help: S.table.help("s3-endpoint")) var s3Endpoint: String?
    @Option(help: S.table.help("s3-bucket")) var s3Bucket: String?
    @Option(help: S.table.help("s3-region")) var s3Region: String?
    @Option(help: S.table.help("s3-prefix")) var s3Prefix: String?
    @Option(help: S.table.help("s3-addressing")) var s3Addressing: String?
    @Option(help: S.table.help("metadata")) var metadata: String?
    @Option(help: S.table.help("postgres-url")) var postgresURL: String?
    @Option(help: S.table.help("postgres-timeout")) var postgresTimeout: String?

    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> StorageConfiguration {
        try resolveWithOrigins(environment: environment).0
    }

    func resolveWithOrigins(environment: [String: String]) throws -> (StorageConfiguration, [String: SettingsTable<StorageConfiguration>.Origin]) {
        try S.table.resolve(flags: S.table.given(in: self), environment: environment)
    }
}
