import ArgumentParser
import Foundation
import RRStoreCore
import RRStoreStorage

/// `rrstore repack`: a store written before packs (one object per asset) into packs.
struct RepackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repack",
        abstract: "Move a store's small loose assets (one object each, as before store format 3) into packs.",
        discussion: """
        Lists the asset objects page by page; reads each small one and checks its digest, \
        packs them (every pack is verified before it is written), reads each packed copy back \
        and only then deletes the loose object. Resumable: stopped or killed anywhere, run it \
        again and it carries on from what is left. Safe while servers run on the same store. \
        The store must be at format 3 (`rrstore migrate`). Damaged objects are reported and \
        left as they are (exit 1).
        """
    )

    @OptionGroup var storage: StorageOptions

    @Option(help: "Assets smaller than this go into packs; larger ones stay one object each (as `serve --pack-threshold`).")
    var packThreshold = PackPolicy().maxAssetBytes

    @Option(help: "Asset objects listed and moved per page.")
    var pageSize = 500

    @Option(help: "zstd level of the packs' shared blocks (as `serve --pack-level`; 19 keeps the fewest bytes, lower levels repack faster).")
    var packLevel = PackPolicy().level

    func validate() throws {
        guard (1...19).contains(packLevel) else { throw ValidationError("--pack-level takes 1 to 19") }
        guard packThreshold >= 0 else { throw ValidationError("--pack-threshold must not be negative") }
    }

    func run() async throws {
        try await reportingErrors {
            let configuration = try storage.resolve()
            let blobs = try configuration.makeBlobStore(environment: ProcessInfo.processInfo.environment)
            var configured = PackPolicy()
            configured.maxAssetBytes = packThreshold
            configured.level = packLevel
            let policy = configured
            let started = ContinuousClock.now
            let report = try await configuration.withMetadataStore { metadata in
                try await Repacker(blobs: blobs, metadata: metadata, policy: policy).run(pageSize: max(1, pageSize)) { report in
                    FileHandle.standardError.write(Data("repack: \(report.listed) objects listed, \(report.packed) moved into \(report.packs) packs\n".utf8))
                }
            }
            let seconds = (ContinuousClock.now - started).components.seconds
            print("""
                repack: \(report.listed) asset objects listed; \(report.packed) moved into \(report.packs) packs \
                (\(report.looseBytes) bytes as loose objects, \(report.packBytes) in the new packs); \
                \(report.large) left as objects (at or over \(packThreshold) bytes); \(report.damaged.count) damaged; \(seconds) s
                """)
            if !report.damaged.isEmpty {
                throw RRStoreError(.corruptAsset, "\(report.damaged.count) asset objects do not hash to their names and were left as they are, e.g. \(report.damaged[0])")
            }
        }
    }
}
