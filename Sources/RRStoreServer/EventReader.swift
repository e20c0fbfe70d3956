import RRStoreCore
import RRStoreIO
import RRStoreStorage

/// Reads a recording's events in order — flushed chunks first, then pending rows — and
/// puts their assets back, a piece of NDJSON at a time. Only the events counted when the
/// read began are returned, so appends during a long read do not make it run forever; a
/// flush during the read is noticed (the next event is in neither place) and the chunk
/// list is read again.
///
/// Every asset it expands, at any depth (tree children, nested text payloads), must be
/// linked to the reading tenant: a reference can be written by a client, and names
/// nothing the tenant could not read directly. What one event expands to is bounded.
struct EventReader: Sendable {
    let state: ServerState
    let mode: RehydrateMode
    let tenant: String
    let record: RecordingRecord
    let pieceBytes: Int
    /// In the original system's form, each line's start, `{"sessionId":"<id>","rrwebEvent":`,
    /// made once per read (`answerInOriginalForm`).
    private var originalLineStart: [UInt8]?

    private var next = 0
    private var chunks: [ChunkRecord]?
    private var chunkIndex = 0
    private var buffered: [[UInt8]] = []
    private var bufferedFirst = 0
    private var reloadedWithoutProgress = false
    /// Digests already found linked to the tenant in this read.
    private var authorized: Set<SHA256Digest> = []

    init(state: ServerState, mode: RehydrateMode, tenant: String, record: RecordingRecord, pieceBytes: Int = 256 << 10) {
        self.state = state
        self.mode = mode
        self.tenant = tenant
        self.record = record
        self.pieceBytes = pieceBytes
    }

    /// Answers each event as the original system's line, `{"sessionId", "rrwebEvent", "sequence"}`.
    mutating func answerInOriginalForm() {
        var start = Array(#"{"sessionId":"#.utf8)
        JSONWriter.appendQuoted(record.id, to: &start)
        start += Array(#","rrwebEvent":"#.utf8)
        originalLineStart = start
    }

    /// The next piece of about `pieceBytes` of NDJSON, or nil at the end.
    mutating func next() async throws -> [UInt8]? {
        var out: [UInt8] = []
        while next < record.eventCount && out.count < pieceBytes {
            let event = try await nextEvent()
            if let originalLineStart { out += originalLineStart }
            try await rehydrate(event, into: &out)
            if originalLineStart != nil { out += Array(#","sequence":\#(self.next)}"#.utf8) }
            out.append(UInt8(ascii: "\n"))
            self.next += 1
        }
        return out.isEmpty ? nil : out
    }

    /// The stored bytes of event `next`.
    private mutating func nextEvent() async throws -> [UInt8] {
        while true {
            if next >= bufferedFirst && next < bufferedFirst + buffered.count { return buffered[next - bufferedFirst] }
            if chunks == nil { chunks = try await state.metadata.chunks(tenant: tenant, recording: record.id) }
            let list = chunks ?? []
            while chunkIndex < list.count, list[chunkIndex].firstEvent + list[chunkIndex].eventCount <= next { chunkIndex += 1 }
            if chunkIndex < list.count, list[chunkIndex].firstEvent <= next {
                buffered = try await readChunk(list[chunkIndex])
                bufferedFirst = list[chunkIndex].firstEvent
                chunkIndex += 1
                reloadedWithoutProgress = false
                continue
            }
            let pending = try await state.metadata.pendingEvents(tenant: tenant, recording: record.id, from: next, limit: 512)
            let run = pending.enumerated().prefix { $0.offset == $0.element.sequence - next }.map(\.element.bytes)
            if !run.isEmpty {
                buffered = run
                bufferedFirst = next
                reloadedWithoutProgress = false
                continue
            }
            guard !reloadedWithoutProgress else {
                throw RRStoreError(.database, "event \(next) of recording '\(record.id)' is neither in a chunk nor pending; the metadata store is inconsistent")
            }
            // Flushed since we listed the chunks: list them again.
            chunks = nil
            chunkIndex = 0
            reloadedWithoutProgress = true
        }
    }

    private func readChunk(_ chunk: ChunkRecord) async throws -> [[UInt8]] {
        let blobs = state.blobs
        let seconds = state.configuration.limits.storeDeadlineSeconds
        let compressed = try await withDeadline(seconds: seconds, { APIError.storeTimeout("reading chunk \(chunk.sequence)", seconds: seconds) }) {
            try await blobs.get(try BlobKey(chunk.blobKey))
        }
        let bytes: [UInt8]
        do {
            bytes = try ChunkEncoding(key: chunk.blobKey).decompress(compressed, maxBytes: chunk.byteCount)
        } catch let error as RRStoreError {
            throw RRStoreError(.corruptAsset, "chunk \(chunk.blobKey) does not decompress to its \(chunk.byteCount) bytes: \(error.message)")
        }
        let events = try EventStream.events(in: bytes)
        guard events.count >= chunk.eventCount else {
            throw RRStoreError(.corruptAsset, "chunk \(chunk.blobKey) holds \(events.count) events, not the \(chunk.eventCount) of its manifest")
        }
        return Array(events.prefix(chunk.eventCount))
    }

    /// Fetches what the core's plan says the event needs, level by level (its own
    /// references, then what those assets name), each level's digests checked against the
    /// tenant's links and fetched a few at a time; then rehydrates the event in one
    /// synchronous pass, within the expansion budget.
    private mutating func rehydrate(_ event: [UInt8], into out: inout [UInt8]) async throws {
        var plan = try RehydrationPlan(event: event, mode: mode)
        if plan.needsNothing {
            out += event
            return
        }
        let budget = state.configuration.limits.maxReadExpansionBytes
        while case let level = plan.takeWanted(), !level.isEmpty {
            try await authorize(level.map(\.digest))
            let state = self.state
            try await forEachConcurrently(level, limit: 8, { reference in
                (reference, try await EventReader.fetch(reference, state: state))
            }, collect: { reference, bytes in
                try plan.supply(reference, bytes: bytes)
                // Every asset fetched is put back at least once (give or take its reference's
                // own text), so an event within the budget fetches no more than the budget:
                // a bound on what one event's read holds before the rehydrator checks it.
                guard plan.suppliedBytes <= budget else {
                    throw RRStoreError(.tooLarge, "an event of recording '\(record.id)' names more than \(budget) bytes of assets; it cannot be read back")
                }
            })
        }
        let rehydrator = Rehydrator(mode: mode, maxOutputBytes: budget)
        try event.withUnsafeBytes { try rehydrator.rehydrate($0, into: &out, source: plan.assets) }
    }

    /// Every digest must be linked to the tenant; one query for those not seen yet.
    private mutating func authorize(_ digests: [SHA256Digest]) async throws {
        let unchecked = digests.filter { !authorized.contains($0) }
        guard !unchecked.isEmpty else { return }
        let linked = try await state.metadata.linked(tenant: tenant, among: unchecked)
        if let foreign = unchecked.first(where: { !linked.contains($0) }) {
            state.logger.warning("recording \(record.id) of \(tenant) references \(foreign), which the tenant does not hold; refused")
            throw APIError(.unprocessableContent, "unknown_assets",
                           "this recording references an asset (\(foreign)) this tenant does not hold; it cannot be read back")
        }
        authorized.formUnion(unchecked)
    }

    private static func fetch(_ ref: AssetReference, state: ServerState) async throws -> [UInt8] {
        let cache = state.assetCache, assets = state.assets
        let likely = StoredEncoding.likely(kind: ref.kind, mediaType: ref.mediaType)
        let seconds = state.configuration.limits.storeDeadlineSeconds
        do {
            return try await withDeadline(seconds: seconds, { APIError.storeTimeout("reading asset \(ref.digest)", seconds: seconds) }) {
                try await cache.bytes(ref.digest, likely: likely, from: assets)
            }
        } catch let error as RRStoreError where error.code == .missingAsset {
            // The index said the bytes were there: forget that, so the next upload or
            // ingest of this asset stores it again and repairs the recording.
            try? await state.metadata.forgetIndexedAsset(ref.digest)
            state.logger.error("\(error.message); its index row is dropped so that it can be stored again")
            throw error
        }
    }
}
