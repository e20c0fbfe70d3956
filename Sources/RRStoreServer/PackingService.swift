import Logging
import RRStoreCore
import RRStoreStorage
import ServiceLifecycle
import Synchronization

/// Runs the `Packer` in the background: every `intervalSeconds` it packs the tenants with
/// `minBytes` staged or an asset staged `maxAgeSeconds` ago; on graceful shutdown it
/// packs everything staged before it returns (staged assets are durable either way: this
/// only leaves a clean store behind).
struct PackingService: Service {
    let state: ServerState

    func run() async throws {
        let policy = state.configuration.pack
        let packer = Packer(blobs: state.blobs, index: state.metadata, policy: policy, logger: state.logger)
        await state.waitUntilMigrated(by: "packer")
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await pass(packer, all: false)
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: .milliseconds(Int(policy.intervalSeconds * 1000)))
            }
        }
        guard !Task.isCancelled else { return }
        await pass(packer, all: true)
        state.logger.info("packer stopped; staged assets packed")
    }

    private func pass(_ packer: Packer, all: Bool) async {
        do {
            // Nothing is staged before the store packs; a format-2 store has no tables to ask.
            guard try await state.storeFormat.packs() else { return }
            let report = try await packer.packDue(all: all, now: ServerState.now())
            guard report.packs > 0 else { return }
            state.metrics.packsWritten.increment(by: Int64(report.packs))
            state.metrics.packedAssets.increment(by: Int64(report.assets))
            state.metrics.packedBytes.increment(by: Int64(report.storedBytes))
        } catch {
            state.metrics.packFailures.increment()
            state.logger.error("packing staged assets failed (will retry): \(error)")
        }
    }
}

/// The store's format, asked again at most every two seconds: whether new small assets
/// are staged for packs (format 3) or written one object each (older stores, until
/// `rrstore migrate`). Instances switch without a restart, and never before the store
/// says every reader can read packs.
final class StoreFormatWatch: Sendable {
    private let metadata: any MetadataStore
    private let known: Mutex<(format: Int, asked: ContinuousClock.Instant)?> = Mutex(nil)

    init(_ metadata: any MetadataStore) { self.metadata = metadata }

    func format() async throws -> Int {
        let now = ContinuousClock.now
        if let known = known.withLock({ $0 }), now - known.asked < .seconds(2) { return known.format }
        let format = try await metadata.storeFormat()
        known.withLock { $0 = (format, now) }
        return format
    }

    func packs() async throws -> Bool { try await format() >= 3 }
}
