import RRStoreCore
import RRStoreStorage

/// Turns one POST body into durable events: split into events, rewrite each with the core
/// (the same result as a client-side rewrite), store the new assets, then commit events,
/// asset links and references in one metadata transaction. Nothing is acknowledged
/// before that commit; a failure before it leaves at most unreferenced assets behind,
/// which garbage collection removes.
struct EventIngest {
    let state: ServerState

    struct Batch {
        var events: [[UInt8]] = []
        var rawBytes = 0
        var rewrittenBytes = 0
        /// Extracted in this batch, by digest.
        var extracted: [SHA256Digest: ExtractedCopy] = [:]
        /// References the (client-rewritten) events already held.
        var kept: Set<SHA256Digest> = []
        var assetRefs = 0
    }

    struct ExtractedCopy {
        var bytes: [UInt8]
        var reference: AssetReference
    }

    /// Rewrites the events of `body` (already un-gzipped). CPU only; no I/O.
    func rewrite(body: [UInt8], isNDJSON: Bool, keepReferences: Bool, recording: String) throws -> Batch {
        let limits = state.configuration.limits
        var options = state.configuration.rewrite
        options.keepReferences = keepReferences
        var rewriter = Rewriter(options: options)
        var batch = Batch()
        try body.withUnsafeBytes { body in
            let range = try EventBatchFraming.eventsRange(in: body, isNDJSON: isNDJSON, recording: recording)
            var stream = EventStream(maxEventSize: limits.maxEventBytes)
            let handler: EventStream.Handler = { remainder in
                guard batch.events.count < limits.maxEventsPerBatch else {
                    throw RRStoreError(.tooLarge, "a batch holds at most \(limits.maxEventsPerBatch) events; split it")
                }
                var out: [UInt8] = []
                let length = try rewriter.rewritePrefix(remainder, into: &out) { asset in
                    batch.assetRefs += 1
                    if batch.extracted[asset.digest] == nil {
                        batch.extracted[asset.digest] = ExtractedCopy(bytes: Array(asset.bytes), reference: asset.reference)
                    }
                }
                batch.kept.formUnion(rewriter.keptReferences.map(\.digest))
                batch.assetRefs += rewriter.keptReferences.count
                batch.rawBytes += length
                batch.rewrittenBytes += out.count
                batch.events.append(out)
                return length
            }
            try stream.feed(UnsafeRawBufferPointer(rebasing: body[range]), handler)
            try stream.finish(handler)
        }
        guard !batch.events.isEmpty else {
            throw RRStoreError(.invalidEvent, "the body holds no events")
        }
        return batch
    }

    /// Stores the batch's new assets and appends its events durably.
    func commit(_ batch: Batch, tenant: String, recording: String, idempotencyKey: String?) async throws -> AppendOutcome {
        // References a client left in place must be to assets this tenant uploaded.
        let foreign = batch.kept.subtracting(batch.extracted.keys)
        if !foreign.isEmpty {
            let linked = try await state.metadata.linked(tenant: tenant, among: Array(foreign))
            let missing = foreign.subtracting(linked).sorted()
            if !missing.isEmpty {
                throw APIError(.unprocessableContent, "unknown_assets",
                               "the events reference \(missing.count) asset(s) this tenant has not uploaded, e.g. \(missing[0]); upload them with PUT /assets/{digest} (ask POST /assets/missing which) and retry")
            }
        }
        guard try await state.metadata.recording(tenant: tenant, id: recording) != nil else {
            throw APIError.notFound("no recording '\(recording)'")
        }
        let indexed = try await state.metadata.indexedAssets(among: Array(batch.extracted.keys))
        let newBytes = try await storeAssets(batch.extracted.filter { !indexed.contains($0.key) })
        let now = ServerState.now()
        // Every extracted asset's index row is written (new) or touched (garbage
        // collection's grace period) in the same transaction as the events.
        let records = batch.extracted.map { digest, asset in
            AssetRecord(digest: digest, size: asset.bytes.count, mediaType: asset.reference.mediaType,
                        kind: asset.reference.kind.rawValue, firstStored: now, lastTouched: now)
        }
        let outcome = try await state.metadata.appendEvents(
            tenant: tenant, recording: recording, events: batch.events,
            assets: Array(batch.extracted.keys) + Array(foreign), newAssets: records, idempotencyKey: idempotencyKey, at: now)
        state.metrics.assetsReused.increment(by: Int64(indexed.count))
        if case .appended = outcome {
            let metrics = state.metrics
            metrics.ingestEvents.increment(by: Int64(batch.events.count))
            metrics.ingestBytes.increment(by: Int64(batch.rawBytes))
            metrics.ingestStoredBytes.increment(by: Int64(batch.rewrittenBytes))
            metrics.bytesSaved.increment(by: Int64(max(0, batch.rawBytes - batch.rewrittenBytes - newBytes)))
        }
        return outcome
    }

    /// Writes the bytes of assets the index does not know yet (before their index rows, so
    /// an indexed asset always has its bytes); returns the bytes newly stored.
    private func storeAssets(_ assets: [SHA256Digest: ExtractedCopy]) async throws -> Int {
        let digests = Array(assets.keys)
        var newBytes = 0
        // A few stores at a time: S3 round trips dominate, and memory is already held.
        try await withThrowingTaskGroup(of: Int.self) { group in
            var next = 0
            func startNext() {
                guard next < digests.count else { return }
                let digest = digests[next], asset = assets[digest]!
                next += 1
                group.addTask { try await storeAsset(digest, asset) }
            }
            for _ in 0..<8 { startNext() }
            while let stored = try await group.next() {
                newBytes += stored
                startNext()
            }
        }
        return newBytes
    }

    private func storeAsset(_ digest: SHA256Digest, _ asset: ExtractedCopy) async throws -> Int {
        let (outcome, stored) = try await state.assets.store(digest, bytes: asset.bytes)
        guard outcome == .created else {
            state.metrics.assetsReused.increment()
            return 0
        }
        state.metrics.assetsNew.increment()
        state.metrics.assetBytesNew.increment(by: Int64(stored))
        return stored
    }
}
