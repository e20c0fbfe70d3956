import RRStoreCore
import RRStoreStorage

/// Reads a recording's events in order — flushed chunks first, then pending rows — and
/// puts their assets back. Only the events counted when the read began are returned, so
/// appends during a long read do not make it run forever; a flush during the read is
/// noticed (the next event is in neither place) and the chunk list is read again.
struct EventReader {
    let state: ServerState
    let mode: RehydrateMode

    private var urlMode: Bool { if case .url = mode { true } else { false } }

    /// Hands the rehydrated NDJSON to `write` in pieces of about `flushBytes`.
    func stream(tenant: String, record: RecordingRecord, flushBytes: Int = 256 << 10,
                write: ([UInt8]) async throws -> Void) async throws {
        let target = record.eventCount
        var next = 0
        var chunks = try await state.metadata.chunks(tenant: tenant, recording: record.id)
        var chunkIndex = 0
        var reloadedWithoutProgress = false
        var out: [UInt8] = []
        out.reserveCapacity(flushBytes + (64 << 10))

        func emit(_ event: [UInt8]) async throws {
            try await rehydrate(event, into: &out)
            out.append(UInt8(ascii: "\n"))
            if out.count >= flushBytes {
                try await write(out)
                out.removeAll(keepingCapacity: true)
            }
        }

        while next < target {
            while chunkIndex < chunks.count, chunks[chunkIndex].firstEvent + chunks[chunkIndex].eventCount <= next { chunkIndex += 1 }
            if chunkIndex < chunks.count, chunks[chunkIndex].firstEvent <= next {
                let chunk = chunks[chunkIndex]
                let events = try await readChunk(chunk)
                for event in events[(next - chunk.firstEvent)...] where next < target {
                    try await emit(event)
                    next += 1
                }
                chunkIndex += 1
                reloadedWithoutProgress = false
                continue
            }
            let pending = try await state.metadata.pendingEvents(tenant: tenant, recording: record.id, from: next, limit: 512)
            var progressed = false
            for event in pending where event.sequence == next && next < target {
                try await emit(event.bytes)
                next += 1
                progressed = true
            }
            if progressed { reloadedWithoutProgress = false; continue }
            guard !reloadedWithoutProgress else {
                throw RRStoreError(.database, "event \(next) of recording '\(record.id)' is neither in a chunk nor pending; the metadata store is inconsistent")
            }
            // Flushed since we listed the chunks: list them again.
            chunks = try await state.metadata.chunks(tenant: tenant, recording: record.id)
            chunkIndex = 0
            reloadedWithoutProgress = true
        }
        if !out.isEmpty { try await write(out) }
    }

    private func readChunk(_ chunk: ChunkRecord) async throws -> [[UInt8]] {
        let compressed = try await state.blobs.get(try BlobKey(chunk.blobKey))
        let bytes = try GzipDecoder.decompress(compressed)
        let events = try EventStream.events(in: bytes)
        guard events.count >= chunk.eventCount else {
            throw RRStoreError(.corruptAsset, "chunk \(chunk.blobKey) holds \(events.count) events, not the \(chunk.eventCount) of its manifest")
        }
        return Array(events.prefix(chunk.eventCount))
    }

    /// Fetches every asset the event needs (trees first, then what they reference), then
    /// rehydrates it in one synchronous pass.
    private func rehydrate(_ event: [UInt8], into out: inout [UInt8]) async throws {
        let refs = try ReferenceScanner.references(in: event)
        if refs.isEmpty {
            out += event
            return
        }
        var assets: [SHA256Digest: [UInt8]] = [:]
        var queue = refs
        while let ref = queue.popLast() {
            if urlMode && ref.kind == .dataURI { continue }
            if assets[ref.digest] != nil { continue }
            let bytes = try await state.assetCache.bytes(ref.digest, likely: StoredEncoding.likely(kind: ref.kind, mediaType: ref.mediaType), from: state.assets)
            assets[ref.digest] = bytes
            switch ref.kind {
            case .tree:
                queue += try ReferenceScanner.references(in: bytes)
            case .nestedText where !urlMode:
                let embedded = bytes.withUnsafeBytes { ReferenceScanner.embeddedDigests(inNestedText: $0) }
                queue += embedded.map { AssetReference(digest: $0, kind: .text) }
            default:
                break
            }
        }
        let source = InMemoryAssetSource(assets)
        try event.withUnsafeBytes { try Rehydrator(mode: mode).rehydrate($0, into: &out, source: source) }
    }
}
