import Logging
import RRStoreCore
import RRStoreStorage
import ServiceLifecycle

/// Packs each recording's pending events into gzip NDJSON chunks in the blob store, as
/// Firehose would: when a recording has `chunkBytes` pending, when its oldest pending
/// event is `maxAgeSeconds` old, or when it has been idle for `idleSeconds`. On graceful
/// shutdown it flushes everything pending before it returns.
///
/// Several instances may flush at once: a chunk's key names its first event and its
/// count, so rivals write identical objects, and the metadata commit lets one win.
public struct Flusher: Service {
    let state: ServerState

    public init(state: ServerState) {
        self.state = state
    }

    public func run() async throws {
        let policy = state.configuration.flush
        await state.waitUntilMigrated(by: "flusher")
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await flushDue(final: false)
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: .milliseconds(Int(policy.intervalSeconds * 1000)))
            }
        }
        guard !Task.isCancelled else { return }
        await flushDue(final: true)
        state.logger.info("flusher stopped; pending events flushed")
    }

    /// Flushes due recordings (all of them when `final`); returns how many chunks it wrote.
    @discardableResult
    public func flushDue(final: Bool) async -> Int {
        let policy = state.configuration.flush
        let now = ServerState.now()
        var written = 0
        while true {
            let due: [PendingSummary]
            do {
                due = try await state.metadata.flushCandidates(
                    minBytes: final ? 0 : policy.chunkBytes,
                    oldestBefore: final ? .max : now - Int64(policy.maxAgeSeconds * 1000),
                    newestBefore: final ? .max : now - Int64(policy.idleSeconds * 1000),
                    limit: 100)
            } catch {
                state.logger.error("flusher could not list pending events: \(error)")
                state.metrics.flushFailures.increment()
                return written
            }
            var progressed = false
            for summary in due {
                let chunks = await flush(summary)
                written += chunks
                progressed = progressed || chunks > 0
            }
            // A full page may hide more due recordings; stop when a pass achieves nothing.
            guard due.count == 100, progressed else { return written }
        }
    }

    /// Pending events read per query: few enough that a page of large events stays small.
    static let pageEvents = 128

    /// Flushes the recording's pending events in chunks of about `chunkBytes`, reading each
    /// pending event once (a page at a time; what a chunk did not take waits for the next).
    private func flush(_ summary: PendingSummary) async -> Int {
        let policy = state.configuration.flush
        var written = 0
        var carried: [PendingEvent] = []
        var nextSequence = 0
        var exhausted = false
        do {
            while true {
                var chunk: [PendingEvent] = []
                var bytes = 0
                while bytes < policy.chunkBytes {
                    if carried.isEmpty && !exhausted {
                        carried = try await state.metadata.pendingEvents(tenant: summary.tenant, recording: summary.recording,
                                                                          from: nextSequence, limit: Self.pageEvents)
                        exhausted = carried.count < Self.pageEvents
                        carried.reverse()  // taken from the end
                    }
                    guard let event = carried.last else { break }
                    // A chunk holds consecutive events only.
                    if let previous = chunk.last, event.sequence != previous.sequence + 1 { break }
                    carried.removeLast()
                    chunk.append(event)
                    bytes += event.bytes.count + 1
                    nextSequence = event.sequence + 1
                }
                guard let first = chunk.first else { return written }
                guard try await writeChunk(chunk, bytes: bytes, summary: summary, first: first.sequence) else { return written }
                written += 1
                if carried.isEmpty && exhausted { return written }
            }
        } catch {
            state.metrics.flushFailures.increment()
            state.logger.error("flushing recording \(summary.recording) of \(summary.tenant) failed (will retry): \(error)")
            return written
        }
    }

    /// Writes and commits one chunk; false if another instance (or a delete) got there first.
    private func writeChunk(_ chunk: [PendingEvent], bytes: Int, summary: PendingSummary, first: Int) async throws -> Bool {
        var ndjson: [UInt8] = []
        ndjson.reserveCapacity(bytes)
        for event in chunk {
            ndjson += event.bytes
            ndjson.append(UInt8(ascii: "\n"))
        }
        // zstd once the store is at format 2 (`rrstore migrate`); asked each chunk, so running
        // instances switch without a restart, and never before every reader can read it.
        let encoding = ChunkEncoding.forStore(format: try await state.metadata.storeFormat())
        let compressed = try encoding.compress(ndjson)
        let key = try BlobKey.eventChunk(tenant: summary.tenant, recording: summary.recording, firstEvent: first, count: chunk.count, encoding: encoding)
        _ = try await state.blobs.put(key, bytes: compressed, expecting: nil, createOnly: false)
        do {
            try await state.metadata.commitChunk(ChunkRecord(
                tenant: summary.tenant, recording: summary.recording, sequence: first, blobKey: key.rawValue,
                firstEvent: first, eventCount: chunk.count, byteCount: ndjson.count, storedBytes: compressed.count))
        } catch let error as RRStoreError where error.code == .conflict {
            state.metrics.flushConflicts.increment()
            // Deleted meanwhile: nobody will read this chunk. Otherwise a rival's
            // commit may name this very key, so it stays.
            if try await state.metadata.recording(tenant: summary.tenant, id: summary.recording) == nil {
                try? await state.blobs.delete(key)
            }
            return false
        }
        state.metrics.flushes.increment()
        state.metrics.flushedEvents.increment(by: Int64(chunk.count))
        state.metrics.flushedBytes.increment(by: Int64(compressed.count))
        return true
    }
}

extension ServerState {
    /// Background services start before the server's own migration step: they make sure
    /// of the schema first (retrying while the metadata store is unreachable).
    func waitUntilMigrated(by service: String) async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await metadata.migrate()
                return
            } catch {
                logger.error("\(service) waits for the metadata store: \(error)")
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
    }
}
