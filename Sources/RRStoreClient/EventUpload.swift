import RRStoreCore
import RRStoreHTTP
import Synchronization

/// What one `appendEvents` call cost and moved.
public struct UploadStats: Sendable, Equatable {
    public var events = 0
    public var rawBytes = 0
    public var rewrittenBytes = 0
    /// Asset references in the rewritten events (repeats included).
    public var assetsReferenced = 0
    public var assetsUploaded = 0
    public var assetBytesUploaded = 0
    public var missingRequests = 0
    public var eventRequests = 0
    public init() {}

    public static func += (a: inout UploadStats, b: UploadStats) {
        a.events += b.events
        a.rawBytes += b.rawBytes
        a.rewrittenBytes += b.rewrittenBytes
        a.assetsReferenced += b.assetsReferenced
        a.assetsUploaded += b.assetsUploaded
        a.assetBytesUploaded += b.assetBytesUploaded
        a.missingRequests += b.missingRequests
        a.eventRequests += b.eventRequests
    }
}

/// Digests the server is known to hold for this client's tenant: a repeated asset costs no
/// request at all.
public final class PresentAssets: Sendable {
    private let digests = Mutex<Set<SHA256Digest>>([])
    public init() {}
    func filter(_ candidates: [SHA256Digest]) -> [SHA256Digest] { digests.withLock { set in candidates.filter { !set.contains($0) } } }
    func insert(_ present: some Sequence<SHA256Digest>) { digests.withLock { $0.formUnion(present) } }
    public var count: Int { digests.withLock { $0.count } }
}

extension RRStoreClient {
    /// Rewrites the events locally with the core, asks the have-set which assets the server
    /// lacks (1,000 per call), uploads only those (`uploadConcurrency` at a time), then posts
    /// the rewritten events with `RRStore-Rewritten: 1` and the idempotency key, so a
    /// retried batch counts once. `events`: a JSON array of events or NDJSON.
    public func appendEvents(_ recording: String, events: [UInt8], idempotencyKey: String?, present: PresentAssets = PresentAssets(),
                             uploadConcurrency: Int = 4, rewrite options: RewriteOptions = RewriteOptions()) async throws -> UploadStats {
        var stats = UploadStats()
        let batch = try events.withUnsafeBytes { try EventBatchRewrite.rewrite($0, options: options) }
        stats.events = batch.events.count
        stats.rawBytes = batch.rawBytes
        stats.rewrittenBytes = batch.rewrittenBytes
        stats.assetsReferenced = batch.assetReferences
        guard stats.events > 0 else { return stats }
        let assets = batch.assets.mapValues { (bytes: $0.bytes, mediaType: $0.reference.mediaType) }
        let order = batch.assetOrder
        let rewritten = batch.ndjson

        // Have-set negotiation for what this client has not seen the server hold.
        var missing: [SHA256Digest] = []
        let unknown = present.filter(order)
        for start in stride(from: 0, to: unknown.count, by: 1000) {
            let slice = Array(unknown[start..<min(start + 1000, unknown.count)])
            let answer = try await missingAssets(slice.map { ($0, assets[$0]!.bytes.count) })
            stats.missingRequests += 1
            let lacking = Set(answer)
            missing += slice.filter { lacking.contains($0) }
            present.insert(slice.filter { !lacking.contains($0) })
        }

        // Uploads, a few at a time. A tree (or nested text) may only be uploaded once the
        // assets it references are (the server checks), so each waits for its children.
        let missingSet = Set(missing)
        var waitingOn: [SHA256Digest: Int] = [:]
        var parents: [SHA256Digest: [SHA256Digest]] = [:]
        var ready: [SHA256Digest] = []
        for digest in missing {
            let children = assets[digest]!.bytes.withUnsafeBytes { ReferenceMentions.digests(in: $0) }
                .filter { $0 != digest && missingSet.contains($0) }
            waitingOn[digest] = children.count
            for child in children { parents[child, default: []].append(digest) }
            if children.isEmpty { ready.append(digest) }
        }
        ready.reverse()  // popLast takes them in extraction order
        try await withThrowingTaskGroup(of: (SHA256Digest, Int).self) { group in
            var running = 0
            func startReady() {
                while running < max(1, uploadConcurrency), let digest = ready.popLast() {
                    let asset = assets[digest]!
                    running += 1
                    group.addTask {
                        try await self.putAsset(digest, bytes: asset.bytes, mediaType: asset.mediaType)
                        return (digest, asset.bytes.count)
                    }
                }
            }
            startReady()
            while let (digest, bytes) = try await group.next() {
                running -= 1
                stats.assetsUploaded += 1
                stats.assetBytesUploaded += bytes
                for parent in parents[digest] ?? [] {
                    waitingOn[parent]! -= 1
                    if waitingOn[parent] == 0 { ready.insert(parent, at: 0) }
                }
                startReady()
            }
        }
        guard stats.assetsUploaded == missing.count else {
            throw RRStoreError(RRStoreError.Code("upload_order"), "\(missing.count - stats.assetsUploaded) assets reference each other in a cycle and cannot be uploaded")
        }
        present.insert(missing)

        _ = try await appendRawEvents(recording, body: rewritten, format: .ndjson, idempotencyKey: idempotencyKey, rewritten: true)
        stats.eventRequests += 1
        return stats
    }
}
