import Logging
import RRStoreCore

/// Mark and sweep over both stores (DESIGN: lifecycle), never by bare reference counts.
///
/// 1. **Mark.** The roots are every digest a recording references (events or screenshot,
///    any tenant) and every asset touched within the grace period (an upload, a have-set
///    hit, an event batch naming it: a client may be about to use it). From the roots the
///    mark follows the references inside trees and nested text, reading each asset that
///    may hold some (its expansion exceeds its size).
/// 2. **Sweep.** Unmarked index rows go in batches, each in one transaction that re-checks
///    every row (not touched since the cutoff, no recording naming it) and refuses to
///    delete anything if an asset touched since the mark began is missing from the mark:
///    the collector then marks from it and tries again (`LifecycleIndex`). Loose objects of
///    deleted rows go after their rows.
/// 3. **Packs.** A pack with no live entry is forgotten, then deleted; one whose live bytes
///    fell below `rewriteBelow` of its entries' is rewritten with the live ones (written and
///    indexed first, the old one deleted after), like restic's prune.
/// 4. **Orphans.** Objects no row names — a pack a killed instance wrote but never indexed,
///    a chunk whose recording's delete was interrupted, a loose asset without an index
///    row, a temporary file under `.incoming` — go once they are older than the grace period.
///
/// Killed at any point and run again, it finishes the job: every step is safe to repeat,
/// and what an interrupted step leaves (an unindexed pack, an unreferenced object) is an
/// orphan for step 4.
public struct GarbageCollector: Sendable {
    public let blobs: any BlobStore
    public let index: any MetadataStore
    public let policy: GCPolicy
    public let packPolicy: PackPolicy
    let logger: Logger
    /// Called between the steps, for tests that interleave requests deterministically.
    let hooks: GCHooks

    public init(blobs: any BlobStore, index: any MetadataStore, policy: GCPolicy = GCPolicy(), packPolicy: PackPolicy = PackPolicy(),
                logger: Logger = Logger(label: "rrstore.gc"), hooks: GCHooks = GCHooks()) {
        self.blobs = blobs
        self.index = index
        self.policy = policy
        self.packPolicy = packPolicy
        self.logger = logger
        self.hooks = hooks
    }

    public static let leaseName = "gc"
    /// The schema version that brings what the collector queries by (`LifecycleIndex`).
    static let schemaVersion = 7

    /// One collection. With `dryRun` nothing is changed and the report says what would go.
    /// Unless `dryRun`, it runs only while it holds the lease `gc` in the metadata store:
    /// if another collector holds it, the report says `skipped` and nothing is done.
    public func run(now: Int64 = WallClock.millisecondsSince1970(), dryRun: Bool = false,
                    progress: @Sendable (String) -> Void = { _ in }) async throws -> GCReport {
        let started = ContinuousClock.now
        var report = GCReport()
        let version = try await index.schemaVersion()
        guard version >= Self.schemaVersion else {
            throw RRStoreError(.gcNeedsMigration, "the metadata store is at schema version \(version); gc needs \(Self.schemaVersion) (its lease table and indexes): run `rrstore migrate` once every instance runs this release")
        }
        report.dryRun = dryRun
        let lease = GCLease(index: index, holder: Self.holder(), seconds: policy.leaseSeconds)
        if !dryRun {
            guard try await lease.renew() else {
                report.skipped = true
                return report
            }
        }
        do {
            let cutoff = now - Int64(policy.graceSeconds) * 1000 - policy.touchResolutionMillis
            // Touches after the mark began carry a time no earlier than this, give or take
            // clock skew between instances and commit latency.
            let guardSince = max(cutoff, WallClock.millisecondsSince1970() - 300_000)
            progress("marking")
            var mark = try await Mark.start(index: index, assets: StoredAssets(blobs: blobs, index: index), cutoff: cutoff)
            try await mark.close()
            report.marked = mark.marked.count
            await hooks.afterMark()
            if !dryRun { guard try await lease.renew() else { throw GCLease.lost } }

            progress("sweeping \(mark.candidates.count) unmarked assets")
            try await sweep(&mark, cutoff: cutoff, guardSince: guardSince, dryRun: dryRun, lease: lease, into: &report)
            await hooks.afterSweep()

            progress("packs")
            try await PackPrune(collector: self).run(dryRun: dryRun, lease: lease, into: &report)
            progress("orphans")
            try await OrphanSweep(collector: self).run(cutoff: cutoff, dryRun: dryRun, into: &report)
        } catch {
            if !dryRun { try? await lease.release() }
            throw error
        }
        if !dryRun { try await lease.release() }
        report.seconds = (ContinuousClock.now - started).seconds
        return report
    }

    private func sweep(_ mark: inout Mark, cutoff: Int64, guardSince: Int64, dryRun: Bool, lease: GCLease, into report: inout GCReport) async throws {
        var pending = mark.candidates.sorted { $0.digest < $1.digest }
        if dryRun {
            for asset in pending { report.assets.add(asset.kind, bytes: asset.size) }
            return
        }
        while !pending.isEmpty {
            let batch = Array(pending.prefix(policy.sweepBatch)).filter { !mark.marked.contains($0.digest) }
            switch try await index.sweepAssets(batch.map(\.digest), touchedBefore: cutoff, guardSince: guardSince, marked: mark.marked) {
            case .touchedSinceMark(let touched):
                logger.debug("\(touched.count) assets were touched during the collection; marking from them")
                try await mark.add(roots: touched)
                try await mark.close()
                continue
            case .deleted(let deleted):
                await hooks.afterSweepBatchRows()
                for asset in deleted {
                    report.assets.add(asset.kind, bytes: asset.size)
                    if asset.pack == nil && !asset.staged {
                        for encoding in StoredEncoding.allCases {
                            let key = BlobKey.asset(asset.digest, encoding)
                            if let info = try await blobs.head(key) {
                                try await blobs.delete(key)
                                report.looseBytesDeleted += info.size
                            }
                        }
                    }
                }
            }
            pending.removeFirst(min(policy.sweepBatch, pending.count))
            guard try await lease.renew() else { throw GCLease.lost }
        }
    }

    static func holder() -> String {
        "\(WallClock.millisecondsSince1970())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
    }
}

public struct GCPolicy: Sendable, Equatable {
    /// An asset (or orphaned object) younger than this is never deleted.
    public var graceSeconds = 86_400
    /// A pack whose live entries hold less than this share of its entries' bytes is rewritten.
    public var rewriteBelow = 0.5
    public var sweepBatch = 500
    public var leaseSeconds = 600
    /// How late the servers' touches may be (`LifecycleIndex.touchAssets`): added to the
    /// grace period. Must be at least theirs.
    public var touchResolutionMillis = defaultTouchResolution
    public init() {}
}

/// Test seams: each is awaited at its point of the run.
public struct GCHooks: Sendable {
    public var afterMark: @Sendable () async -> Void = {}
    public var afterSweep: @Sendable () async -> Void = {}
    /// After a sweep batch's rows are deleted, before their loose objects are.
    public var afterSweepBatchRows: @Sendable () async -> Void = {}
    /// After a rewritten pack is written and indexed, before the old one is deleted.
    public var afterPackRewrite: @Sendable () async -> Void = {}
    public init() {}
}

/// The lease that keeps one collector running at a time across instances.
struct GCLease: Sendable {
    let index: any LifecycleIndex
    let holder: String
    let seconds: Int

    func renew() async throws -> Bool {
        try await index.acquireLease(GarbageCollector.leaseName, holder: holder, now: WallClock.millisecondsSince1970(), seconds: seconds)
    }

    func release() async throws { try await index.releaseLease(GarbageCollector.leaseName, holder: holder) }

    static let lost = RRStoreError(.gcLeaseLost, "another collector took the gc lease (this run stalled past the lease's lifetime); stopped before deleting more: run gc again")
}

extension RRStoreError.Code {
    public static let gcLeaseLost = RRStoreError.Code("gc_lease_lost")
    public static let gcUnreadable = RRStoreError.Code("gc_unreadable_asset")
    public static let gcNeedsMigration = RRStoreError.Code("gc_needs_migration")
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
