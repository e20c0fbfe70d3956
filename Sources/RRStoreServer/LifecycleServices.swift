import Logging
import RRStoreCore
import RRStoreStorage
import ServiceLifecycle

/// Deletes recordings older than their tenant's retention (`--retention-days`,
/// `--tenant-retention`), oldest first, every `retentionIntervalSeconds`; the bytes they
/// alone used go with the collector's next run. Each deletion is the API's: rows in one
/// transaction, then the chunk objects (an interrupted one leaves orphans the collector
/// removes). Several instances may run it at once: a recording deleted by another is skipped.
public struct RetentionService: Service {
    let state: ServerState
    let policy: LifecyclePolicy
    /// Milliseconds since 1970; tests pass a clock they control.
    let clock: @Sendable () -> Int64

    public init(state: ServerState, policy: LifecyclePolicy? = nil, clock: @escaping @Sendable () -> Int64 = { ServerState.now() }) {
        self.state = state
        self.policy = policy ?? state.configuration.lifecycle
        self.clock = clock
    }

    public func run() async throws {
        // A service that returns ends its group: an idle one waits for the shutdown.
        guard policy.retentionDays > 0 || policy.tenantRetentionDays.values.contains(where: { $0 > 0 }) else {
            try? await gracefulShutdown()
            return
        }
        await state.waitUntilMigrated(by: "retention")
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let deleted = try await pass()
                if deleted > 0 { state.logger.info("retention deleted \(deleted) recordings") }
            } catch {
                state.logger.error("retention failed (will retry): \(error)")
            }
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: .milliseconds(Int(policy.retentionIntervalSeconds * 1000)))
            }
        }
    }

    /// One pass: deletes every recording past its retention; answers how many.
    @discardableResult
    public func pass() async throws -> Int {
        let now = clock()
        func before(_ days: Int) -> Int64 { now - Int64(days) * 86_400_000 }
        var deleted = 0
        // Tenants with their own policy, then everyone else under the default.
        for (tenant, days) in policy.tenantRetentionDays.sorted(by: { $0.key < $1.key }) where days > 0 {
            deleted += try await delete { try await state.metadata.recordings(createdBefore: before(days), tenant: tenant, except: [], limit: 500) }
        }
        if policy.retentionDays > 0 {
            let except = Set(policy.tenantRetentionDays.keys)
            deleted += try await delete {
                try await state.metadata.recordings(createdBefore: before(policy.retentionDays), tenant: nil, except: except, limit: 500)
            }
        }
        if deleted > 0 { state.metrics.retentionDeleted.increment(by: Int64(deleted)) }
        return deleted
    }

    private func delete(_ page: () async throws -> [RecordingRecord]) async throws -> Int {
        var deleted = 0
        while !Task.isCancelled {
            let due = try await page()
            guard !due.isEmpty else { break }
            for recording in due where try await RecordingDeletion(state: state).delete(tenant: recording.tenant, id: recording.id) {
                deleted += 1
            }
        }
        return deleted
    }
}

/// Deletes a recording: its rows in one transaction, then its chunk objects.
struct RecordingDeletion {
    let state: ServerState

    /// False if there was no such recording.
    func delete(tenant: String, id: String, logger: Logger? = nil) async throws -> Bool {
        guard let deleted = try await state.metadata.deleteRecording(tenant: tenant, id: id) else { return false }
        // The rows are gone, so nothing refers to these chunks any more. Screenshots and
        // assets are content-addressed and may be shared: the collector decides.
        for key in deleted.chunkKeys {
            do {
                try await state.blobs.delete(try BlobKey(key))
            } catch {
                (logger ?? state.logger).warning("could not delete chunk \(key) of deleted recording \(id): \(error); the collector removes it as an orphan")
            }
        }
        return true
    }
}

/// Runs the collector every `gcIntervalSeconds` (one instance at a time: the others find
/// the lease taken and skip), with its metrics.
struct GarbageCollectionService: Service {
    let state: ServerState

    func run() async throws {
        let policy = state.configuration.lifecycle
        guard policy.gcIntervalSeconds > 0 else {
            try? await gracefulShutdown()
            return
        }
        await state.waitUntilMigrated(by: "gc")
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: .milliseconds(Int(policy.gcIntervalSeconds * 1000)))
            }
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return }
            await collect()
        }
    }

    func collect() async {
        let collector = GarbageCollector(blobs: state.blobs, index: state.metadata, policy: state.configuration.lifecycle.gc,
                                         packPolicy: state.configuration.pack, logger: state.logger)
        do {
            let report = try await collector.run()
            guard !report.skipped else { return }
            state.metrics.recordGC(report)
            state.logger.info("gc: \(report.assets.count) assets (\(report.assets.bytes) bytes) deleted, \(report.packsRewritten) packs rewritten, \(report.orphans.count) orphans; \(report.bytesReclaimed) bytes reclaimed in \(report.seconds) s")
        } catch {
            state.metrics.gcFailures.increment()
            state.logger.error("gc failed (will run again): \(error)")
        }
    }
}
