/// One batch of events through the lossless rewrite, collected: the rewritten events, each
/// unique asset extracted (bytes and reference, in the order the rewriter handed them over:
/// children before the trees and texts that name them), the references events kept as a
/// client wrote them, and the byte counts. How the service's ingest and the client library
/// drive the core; each event goes through `EventRewriting`, as the CLI's stream does.
public struct EventBatchRewrite {
    public struct Asset: Sendable {
        public var reference: AssetReference
        public var bytes: [UInt8]
        public var digest: SHA256Digest { reference.digest }
    }

    public private(set) var events: [[UInt8]] = []
    public private(set) var assets: [SHA256Digest: Asset] = [:]
    public private(set) var assetOrder: [SHA256Digest] = []
    /// For events that kept references (`RewriteOptions.keepReferences`): which, by event.
    public private(set) var keptByEvent: [(event: Int, references: [AssetReference])] = []
    /// Input bytes of the events, their rewritten bytes, and references made or kept.
    public private(set) var rawBytes = 0
    public private(set) var rewrittenBytes = 0
    public private(set) var assetReferences = 0

    /// Every digest the events kept as written.
    public var kept: Set<SHA256Digest> { Set(keptByEvent.flatMap { $0.references.map(\.digest) }) }

    /// The digest of the events themselves (each one's bytes and a newline): what an
    /// idempotency key is bound to, so a retry may frame the same events differently.
    public var eventsDigest: SHA256Digest {
        var hasher = SHA256Hasher()
        for event in events {
            event.withUnsafeBytes { hasher.update($0) }
            [UInt8(ascii: "\n")].withUnsafeBytes { hasher.update($0) }
        }
        return hasher.finalize()
    }

    /// The events as NDJSON, one a line.
    public var ndjson: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(rewrittenBytes + events.count)
        for event in events {
            out += event
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    /// Rewrites the events of `body` (a JSON array of events or NDJSON: see
    /// `EventBatchFraming` for the API's other framings), at most `maxEvents` of at most
    /// `maxEventBytes` each. `charge` is told the bytes of each copy made as it is made
    /// (rewritten events, extracted assets), so a caller can bound the memory a batch takes.
    public static func rewrite(_ body: UnsafeRawBufferPointer, options: RewriteOptions, maxEventBytes: Int = 64 << 20,
                               maxEvents: Int = .max, charge: (Int) throws -> Void = { _ in }) throws -> EventBatchRewrite {
        var batch = EventBatchRewrite()
        var rewriting = EventRewriting(options: options, maxEvents: maxEvents)
        var stream = EventStream(maxEventSize: maxEventBytes)
        let handler: EventStream.Handler = { remainder in
            var out: [UInt8] = []
            var copied = 0
            var fresh: [SHA256Digest: Asset] = [:], freshOrder: [SHA256Digest] = []
            let (length, kept) = try rewriting.rewriteEvent(remainder, into: &out) { asset in
                guard batch.assets[asset.digest] == nil, fresh[asset.digest] == nil else { return }
                fresh[asset.digest] = Asset(reference: asset.reference, bytes: Array(asset.bytes))
                freshOrder.append(asset.digest)
                copied += asset.bytes.count
            }
            // Taken only once the event is complete (a truncated attempt is retried whole).
            batch.assets.merge(fresh) { first, _ in first }
            batch.assetOrder += freshOrder
            if !kept.isEmpty { batch.keptByEvent.append((batch.events.count, kept)) }
            batch.events.append(out)
            try charge(out.count + copied)
            return length
        }
        try stream.feed(body, handler)
        try stream.finish(handler)
        batch.rawBytes = rewriting.rawBytes
        batch.rewrittenBytes = rewriting.rewrittenBytes
        batch.assetReferences = rewriting.assetReferences
        return batch
    }
}
