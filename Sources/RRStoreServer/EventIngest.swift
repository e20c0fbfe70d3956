import RRStoreCore
import RRStoreIO
import RRStoreStorage

/// Turns one POST body into durable events: split into events, rewrite each with the core
/// (the same result as a client-side rewrite), store the new assets, then commit events,
/// asset links and references in one metadata transaction. Nothing is acknowledged
/// before that commit; a failure before it leaves at most unreferenced assets behind,
/// which garbage collection removes.
struct EventIngest {
    let state: ServerState

    typealias Batch = EventBatchRewrite

    /// Rewrites the events of `body` (already un-gzipped) with the core's batch entry point,
    /// after finding them in whichever framing the API accepts. CPU only; no I/O. The copies
    /// it makes are charged to `reservation` as they are made.
    /// Also returns the envelope's `sequence`, if the body is the original client's envelope.
    func rewrite(body: [UInt8], isNDJSON: Bool, keepReferences: Bool, recording: String,
                 reservation: MemoryReservation) throws -> (batch: Batch, sequence: Int?) {
        let limits = state.configuration.limits
        var options = state.configuration.rewrite
        options.keepReferences = keepReferences
        let (batch, sequence) = try body.withUnsafeBytes { body in
            let located = try EventBatchFraming.locate(in: body, isNDJSON: isNDJSON, recording: recording)
            let batch = try EventBatchRewrite.rewrite(UnsafeRawBufferPointer(rebasing: body[located.range]), options: options,
                                                      maxEventBytes: limits.maxEventBytes, maxEvents: limits.maxEventsPerBatch,
                                                      charge: { try reservation.add($0) })
            return (batch, located.sequence)
        }
        guard !batch.events.isEmpty else {
            throw RRStoreError(.invalidEvent, "the body holds no events")
        }
        return (batch, sequence)
    }

    /// Stores the batch's new assets and appends its events durably.
    func commit(_ batch: Batch, tenant: String, recording: String, idempotencyKey: String?,
                requestDigest: SHA256Digest?) async throws -> AppendOutcome {
        let admitted = try await admit(batch, tenant: tenant)
        if try await state.metadata.recording(tenant: tenant, id: recording) == nil {
            // The original client posts its first events before its PUT (which waits for a
            // screenshot): the events create the tenant's recording unless told not to.
            guard state.configuration.createOnAppend else {
                throw APIError.notFound("no recording '\(recording)' (create it with PUT /recordings/{id} first, or run the service with --create-on-append true)")
            }
            _ = try await state.metadata.createRecording(RecordingRecord(tenant: tenant, id: recording, createdAt: ServerState.now()))
        }
        // What this tenant holds already needs no write. Anything else is written even if
        // another tenant stored the same bytes (create-only: it is not replaced), so that
        // the answer takes as long either way and tells nothing about other tenants.
        let toStore = batch.assets.filter { admitted.held[$0.key] == nil }
        let newBytes = try await storeAssets(toStore, tenant: tenant)
        let now = ServerState.now()
        // Every extracted asset's index row is written (new) or touched (garbage
        // collection's grace period) in the same transaction as the events.
        let records = batch.assets.map { digest, asset in
            AssetRecord(digest: digest, size: asset.bytes.count, mediaType: asset.reference.mediaType,
                        kind: .extracted(asset.reference.kind), firstStored: now, lastTouched: now,
                        expansion: admitted.expansions[digest])
        }
        let foreign = batch.kept.subtracting(batch.assets.keys)
        let outcome = try await state.metadata.appendEvents(
            tenant: tenant, recording: recording, events: batch.events, received: batch.rawBytes,
            assets: Array(batch.assets.keys) + Array(foreign), newAssets: records, idempotencyKey: idempotencyKey,
            requestDigest: requestDigest, at: now)
        state.metrics.assetsReused.increment(by: Int64(batch.assets.count - toStore.count))
        if case .appended = outcome {
            let metrics = state.metrics
            metrics.ingestEvents.increment(by: Int64(batch.events.count))
            metrics.ingestBytes.increment(by: Int64(batch.rawBytes))
            metrics.ingestStoredBytes.increment(by: Int64(batch.rewrittenBytes))
            metrics.bytesSaved.increment(by: Int64(max(0, batch.rawBytes - batch.rewrittenBytes - newBytes)))
        }
        return outcome
    }

    /// What the batch may link, checked before anything is written: every digest the
    /// events keep and every digest an extracted asset mentions is extracted here or held
    /// by this tenant; kept tree references name JSON; no event expands past the event
    /// size limit. Returns the tenant's held assets and each extracted asset's expansion.
    private func admit(_ batch: Batch, tenant: String) async throws -> (held: [SHA256Digest: AssetRecord], expansions: [SHA256Digest: Int]) {
        let candidates = batch.assetOrder.compactMap { digest -> AssetAdmission.Candidate? in
            guard let asset = batch.assets[digest] else { return nil }
            var mentions = ReferenceMentions()
            // Decoded image bytes are never parsed for references; everything else may be.
            if asset.reference.kind != .dataURI { asset.bytes.withUnsafeBytes { mentions.feed($0) } }
            return AssetAdmission.Candidate(digest: digest, size: asset.bytes.count, mentions: mentions)
        }
        let admission = AssetAdmission(state: state)
        let (held, expansions) = try await admission.admit(candidates, keeping: batch.kept, lookUpCandidates: true,
                                                           tenant: tenant, subject: .events)
        for entry in batch.keptByEvent {
            for reference in entry.references where reference.kind == .tree && batch.assets[reference.digest] == nil {
                try await admission.requireTree(reference.digest, record: held[reference.digest], tenant: tenant)
            }
        }
        let limit = state.configuration.limits.maxEventBytes
        for entry in batch.keptByEvent {
            var total = batch.events[entry.event].count
            for reference in entry.references {
                total = total.addingReportingOverflow(expansions[reference.digest] ?? 0).partialValue
                if total > limit || total < 0 {
                    throw APIError(.unprocessableContent, "expansion_too_large",
                                   "event \(entry.event) of the batch would expand to more than \(limit) bytes (the event size limit) through the assets it references; nothing was stored")
                }
            }
        }
        return (held, expansions)
    }

    /// Keeps the bytes of the given assets (before their index rows, so an indexed asset
    /// always has its bytes): small ones staged for a pack in one metadata transaction
    /// once the store packs (format 3), large ones one object each. Returns the bytes
    /// newly kept.
    private func storeAssets(_ assets: [SHA256Digest: EventBatchRewrite.Asset], tenant: String) async throws -> Int {
        guard !assets.isEmpty else { return 0 }
        let seconds = state.configuration.limits.storeDeadlineSeconds
        let store = state.assets, metrics = state.metrics, policy = state.configuration.pack
        let packing = try await state.storeFormat.packs()
        let list = assets.map { (digest: $0.key, bytes: $0.value.bytes) }
        return try await withDeadline(seconds: seconds, { APIError.storeTimeout("storing the batch's assets", seconds: seconds) }) {
            // A few loose stores at a time: S3 round trips dominate, and memory is already held.
            let created = try await store.store(list, tenant: tenant, packing: packing, policy: policy, at: ServerState.now())
            metrics.assetsNew.increment(by: Int64(created.created))
            metrics.assetBytesNew.increment(by: Int64(created.bytes))
            return created.bytes
        }
    }
}
