import ArgumentParser
import Foundation
import RRStoreCore
import RRStoreStorage

/// `rrstore gc`: one garbage collection over a store (`GarbageCollector`).
struct GCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Delete what no recording needs: unreferenced assets, emptied packs, orphaned objects.",
        discussion: """
        Mark and sweep: marks every asset a recording references (following the references \
        inside trees and nested text) and every asset touched (uploaded, found by a have-set \
        query, named by an event batch) within the grace period; deletes the rest, each \
        re-checked in the transaction that deletes it. Packs left with no live asset are \
        deleted; packs mostly dead are rewritten with their live assets. Objects no row names \
        (a pack or chunk a killed process left, temporary files) go once older than the grace \
        period. Safe while servers run on the same store; one collector runs at a time (a \
        lease in the metadata store: a second one skips). Killed anywhere, run it again.
        """
    )

    @OptionGroup var storage: StorageOptions

    @Option(help: "Seconds an unreferenced asset or orphaned object is kept after it was last touched or written (longer than any client takes between asking what is missing and posting its events).")
    var gracePeriod = GCPolicy().graceSeconds

    @Option(help: "Rewrite a pack once its live assets hold less than this share of its bytes (0 to 1; 0: only delete empty packs).")
    var rewriteBelow = GCPolicy().rewriteBelow

    @Option(help: "Milliseconds a server may leave between touches of an asset (added to the grace period); lower it only if every server's is lower.")
    var touchResolution = Int(defaultTouchResolution)

    @Option(help: "Seconds the lease of a run lasts between its renewals (a run renews it at every step and sweep batch); a killed run keeps others off this long.")
    var leaseSeconds = GCPolicy().leaseSeconds

    @Flag(help: "Change nothing: print what would be deleted (counts and bytes, by kind).")
    var dryRun = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        // Bounded like serve's --gc-grace: the cutoff is computed in milliseconds and must not overflow.
        guard (0...(365 * 86_400)).contains(gracePeriod) else { throw ValidationError("--grace-period takes 0 to 31536000 seconds (a year)") }
        guard (0...86_400_000).contains(touchResolution) else { throw ValidationError("--touch-resolution takes 0 to 86400000 milliseconds (a day)") }
        guard (0...1).contains(rewriteBelow) else { throw ValidationError("--rewrite-below takes 0 to 1") }
        guard (1...86_400).contains(leaseSeconds) else { throw ValidationError("--lease-seconds takes 1 to 86400") }
    }

    func run() async throws {
        try await reportingErrors {
            let configuration = try storage.resolve()
            let blobs = try configuration.makeBlobStore(environment: ProcessInfo.processInfo.environment)
            var policy = GCPolicy()
            policy.graceSeconds = gracePeriod
            policy.rewriteBelow = rewriteBelow
            policy.touchResolutionMillis = Int64(touchResolution)
            policy.leaseSeconds = leaseSeconds
            let chosen = policy, dryRun = self.dryRun, hooks = Self.stallHooks()
            let report = try await configuration.withMetadataStore { metadata in
                try await GarbageCollector(blobs: blobs, index: metadata, policy: chosen, hooks: hooks).run(dryRun: dryRun) { step in
                    FileHandle.standardError.write(Data("gc: \(step)\n".utf8))
                }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(Self.describe(report))
            }
        }
    }

    /// For the crash tests: `RRSTORE_GC_STALL=sweep` (after a sweep batch's rows are
    /// deleted, before its objects) or `pack` (after a rewritten pack is indexed, before
    /// the old one is deleted) prints `gc: stalled at …` and waits there to be killed.
    static func stallHooks() -> GCHooks {
        var hooks = GCHooks()
        let stall: @Sendable (String) async -> Void = { point in
            FileHandle.standardError.write(Data("gc: stalled at \(point)\n".utf8))
            try? await Task.sleep(for: .seconds(600))
        }
        switch ProcessInfo.processInfo.environment["RRSTORE_GC_STALL"] {
        case "sweep": hooks.afterSweepBatchRows = { await stall("sweep") }
        case "pack": hooks.afterPackRewrite = { await stall("pack") }
        default: break
        }
        return hooks
    }

    static func describe(_ report: GCReport) -> String {
        if report.skipped { return "gc: skipped: another collector holds the lease (it runs one at a time; a killed one's lease lapses after its --lease-seconds); nothing was done" }
        let verb = report.dryRun ? "would delete" : "deleted"
        var lines = ["gc\(report.dryRun ? " (dry run)" : ""): \(report.marked) assets live; \(verb) \(report.assets.count) assets (\(report.assets.bytes) bytes raw)"]
        for (kind, count) in report.assets.byKind.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(kind): \(count.count) (\(count.bytes) bytes)")
        }
        lines.append("packs: \(report.packsDeleted) \(report.dryRun ? "would be " : "")deleted, \(report.packsRewritten) \(report.dryRun ? "would be " : "")rewritten")
        lines.append("orphaned objects: \(report.orphans.count) (\(report.orphans.bytes) bytes)")
        for (kind, count) in report.orphans.byKind.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(kind): \(count.count) (\(count.bytes) bytes)")
        }
        lines.append("bytes reclaimed\(report.dryRun ? " (estimated)" : ""): \(report.bytesReclaimed); \(String(format: "%.1f", report.seconds)) s")
        return lines.joined(separator: "\n")
    }
}
