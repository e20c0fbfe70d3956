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
    /// Upload requests: batches, and single `PUT`s.
    public var uploadRequests = 0
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
        a.uploadRequests += b.uploadRequests
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
    /// lacks (1,000 per call), uploads only those (in batches of about `uploadBatchBytes`,
    /// `uploadConcurrency` requests at a time; 0 sends one `PUT` per asset, for servers from
    /// before `POST /assets/batch`), then posts the rewritten events with
    /// `RRStore-Rewritten: 1` and the idempotency key, so a retried batch counts once.
    /// `events`: a JSON array of events or NDJSON.
    public func appendEvents(_ recording: String, events: [UInt8], idempotencyKey: String?, present: PresentAssets = PresentAssets(),
                             uploadConcurrency: Int = 4, uploadBatchBytes: Int = 4 << 20,
                             rewrite options: RewriteOptions = RewriteOptions()) async throws -> UploadStats {
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
            // Only digests with bytes here are asked about (and so can be uploaded).
            let answer = try await missingAssets(slice.compactMap { digest in assets[digest].map { (digest, $0.bytes.count) } })
            stats.missingRequests += 1
            let lacking = Set(answer)
            missing += slice.filter { lacking.contains($0) }
            present.insert(slice.filter { !lacking.contains($0) })
        }

        try await upload(missing, assets: assets, batchBytes: uploadBatchBytes, concurrency: uploadConcurrency, stats: &stats)
        present.insert(missing)

        _ = try await appendRawEvents(recording, body: rewritten, format: .ndjson, idempotencyKey: idempotencyKey, rewritten: true)
        stats.eventRequests += 1
        return stats
    }

    /// Uploads `missing` children first: each asset gets a level one above the highest of
    /// the missing assets it names (leaves are 0); levels go one after another, and within
    /// a level the batches (or single `PUT`s) go `concurrency` at a time, so no asset reaches
    /// the server before what it names.
    func upload(_ missing: [SHA256Digest], assets: [SHA256Digest: (bytes: [UInt8], mediaType: String?)], batchBytes: Int,
                concurrency: Int, stats: inout UploadStats) async throws {
        typealias Item = (digest: SHA256Digest, bytes: [UInt8], mediaType: String?)
        let items: [Item] = missing.compactMap { digest in assets[digest].map { (digest, $0.bytes, $0.mediaType) } }
        guard !items.isEmpty else { return }
        // The graph by index into `items`: who names whom among the missing assets.
        let index = Dictionary(items.enumerated().map { ($0.element.digest, $0.offset) }, uniquingKeysWith: { first, _ in first })
        var children = [[Int]](repeating: [], count: items.count)
        var parents = [[Int]](repeating: [], count: items.count)
        for (position, item) in items.enumerated() {
            let named = item.bytes.withUnsafeBytes { ReferenceMentions.digests(in: $0) }.compactMap { index[$0] }.filter { $0 != position }
            children[position] = named
            for child in named { parents[child].append(position) }
        }
        // Kahn's order, in extraction order among the ready ones; levels from the children.
        var waitingOn = children.map(\.count)
        var level = [Int](repeating: 0, count: items.count)
        var ready = items.indices.filter { waitingOn[$0] == 0 }
        var position = 0
        while position < ready.count {
            let current = ready[position]
            position += 1
            level[current] = children[current].map { level[$0] + 1 }.max() ?? 0
            for parent in parents[current] {
                waitingOn[parent] -= 1
                if waitingOn[parent] == 0 { ready.append(parent) }
            }
        }
        guard ready.count == items.count else {
            throw RRStoreError(RRStoreError.Code("upload_order"), "\(items.count - ready.count) assets reference each other in a cycle and cannot be uploaded")
        }
        let levels = Dictionary(grouping: ready) { level[$0] }.sorted { $0.key < $1.key }.map { $0.value.map { items[$0] } }
        for level in levels {
            // Requests of this level: batches of small assets, and large ones alone (by PUT).
            var requests: [[Item]] = []
            var current: [Item] = [], currentBytes = 0
            for item in level {
                if batchBytes <= 0 || item.bytes.count > Self.maxBatchAssetBytes {
                    requests.append([item])
                    continue
                }
                if !current.isEmpty && (currentBytes + item.bytes.count > batchBytes || current.count >= Self.maxBatchAssets) {
                    requests.append(current)
                    current = []
                    currentBytes = 0
                }
                current.append(item)
                currentBytes += item.bytes.count
            }
            if !current.isEmpty { requests.append(current) }
            let batched = batchBytes > 0
            try await withThrowingTaskGroup(of: (count: Int, bytes: Int).self) { group in
                var next = 0
                func start() {
                    let request = requests[next]
                    next += 1
                    group.addTask {
                        if batched, request.count > 1 || request[0].bytes.count <= Self.maxBatchAssetBytes {
                            try await self.putAssets(request)
                        } else {
                            try await self.putAsset(request[0].digest, bytes: request[0].bytes, mediaType: request[0].mediaType)
                        }
                        return (request.count, request.reduce(0) { $0 + $1.bytes.count })
                    }
                }
                while next < requests.count && next < max(1, concurrency) { start() }
                while let done = try await group.next() {
                    stats.assetsUploaded += done.count
                    stats.assetBytesUploaded += done.bytes
                    stats.uploadRequests += 1
                    if next < requests.count { start() }
                }
            }
        }
    }

    /// The server's limits for `POST /assets/batch` (its defaults): larger assets go by `PUT`.
    static let maxBatchAssetBytes = 4 << 20
    static let maxBatchAssets = 1_000
}
