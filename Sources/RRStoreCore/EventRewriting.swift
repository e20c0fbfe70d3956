/// One event at a time through the lossless rewrite: the step every caller takes, whether
/// it collects a batch in memory (`EventBatchRewrite`: the service's ingest and the client
/// library) or streams a file of any size to its output (the CLI). Hand it to an
/// `EventStream` (or `EventFileReader`) as the handler's body.
///
/// Only complete events count: an attempt cut short by the end of the buffered input
/// (`.truncatedInput`, retried by the stream with more bytes) leaves the output, the counts
/// and the event limit as they were. Asset hand-overs of such an attempt are repeated on
/// the retry, so whoever receives them must treat them as idempotent (by digest).
public struct EventRewriting {
    public private(set) var rewriter: Rewriter
    public let maxEvents: Int
    /// Complete events rewritten, their input and output bytes, and the references they
    /// hold (made or kept).
    public private(set) var events = 0
    public private(set) var rawBytes = 0
    public private(set) var rewrittenBytes = 0
    public private(set) var assetReferences = 0

    public init(options: RewriteOptions, maxEvents: Int = .max) {
        rewriter = Rewriter(options: options)
        self.maxEvents = maxEvents
    }

    /// Rewrites the event at the start of `remainder`, appends it to `out` and hands each
    /// extracted asset to `asset` (its bytes valid during the call). Returns the event's
    /// length in `remainder` and the references it kept as written
    /// (`RewriteOptions.keepReferences`).
    public mutating func rewriteEvent(
        _ remainder: UnsafeRawBufferPointer, into out: inout [UInt8], asset: (ExtractedAsset) throws -> Void
    ) throws -> (length: Int, kept: [AssetReference]) {
        guard events < maxEvents else {
            throw RRStoreError(.tooLarge, "a batch holds at most \(maxEvents) events; split it")
        }
        let before = out.count
        var made = 0
        let length = try rewriter.rewritePrefix(remainder, into: &out) { extracted in
            made += 1
            try asset(extracted)
        }
        let kept = rewriter.keptReferences
        events += 1
        rawBytes += length
        rewrittenBytes += out.count - before
        assetReferences += made + kept.count
        return (length, kept)
    }
}
