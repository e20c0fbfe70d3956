import ArgumentParser
import RRStoreCore
import RRStoreStorage
import RRStoreIO

struct RewriteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewrite",
        abstract: "Cut large values out of rrweb events into a content-addressed asset directory.",
        discussion: """
        Reads a JSON array of events, NDJSON, or gzip of either, and writes the rewritten \
        events as NDJSON (one event per line) to standard output. Each distinct asset is \
        written once under --assets; a summary goes to standard error.
        """
    )

    @Option(name: .long, help: "Asset directory, in the service's blob layout: small assets in packs (packs/<id>), large ones as assets/sha256/ab/cd/<hex>[.gz].")
    var assets: String

    @Flag(name: .long, help: "Write every asset as an object of its own (the layout before packs), none in packs.")
    var loose = false

    @Option(name: .long, help: "String values of at least this many bytes become assets.")
    var minSize: Int = 1024

    @Option(name: .long, help: "Objects and arrays of at least this many bytes (after their children were replaced) become tree assets.")
    var minTreeSize: Int = 4096

    @Option(name: .long, help: "Memory for recognising repeated values without parsing or hashing them again (bytes, each of two caches).")
    var cacheSize: Int = RewriteOptions().recentAssetsBytes

    @Option(name: .long, help: "Reject events larger than this many bytes.")
    var maxEventSize: Int = 256 << 20

    @Argument(help: "Input file, or - for standard input.")
    var input: String = "-"

    func validate() throws {
        guard minSize >= 1 else { throw ValidationError("--min-size must be at least 1") }
        guard minTreeSize >= 2 else { throw ValidationError("--min-tree-size must be at least 2") }
        guard cacheSize >= 0 else { throw ValidationError("--cache-size must not be negative") }
    }

    func run() throws {
        BatchMemory.tuneAllocator()
        try reportingErrors {
            let clock = ContinuousClock()
            let started = clock.now
            let store = try AssetDirectory(root: assets, packs: loose ? nil : AssetDirectory.cliPacks)
            var rewriting = EventRewriting(options: RewriteOptions(minStringSize: minSize, minTreeSize: minTreeSize, minEmbeddedDataURISize: minSize, recentAssetsBytes: cacheSize))
            var reader = EventFileReader(path: input, maxEventSize: maxEventSize)
            let output = BufferedOutput()
            var summary = RewriteSummary()
            try reader.readEvents { remainder in
                // Counted only once the event is complete: an event cut by the end of a
                // read is rewritten again when more bytes arrive.
                var tally = RewriteSummary()
                var length = 0
                do {
                    try output.write { out in
                        length = try rewriting.rewriteEvent(remainder, into: &out) { asset in
                            let isNew = try store.put(asset.digest, bytes: asset.bytes, likely: StoredEncoding.likely(kind: asset.kind, mediaType: asset.reference.mediaType))
                            tally.count(asset, isNew: isNew)
                        }.length
                        out.append(UInt8(ascii: "\n"))
                    }
                } catch var error as RRStoreError where error.code != .truncatedInput {
                    error.message = "event \(rewriting.events + 1): \(error.message)"
                    throw error
                }
                summary.merge(tally)
                return length
            }
            try store.commit()
            try output.flush()
            summary.bytesIn = reader.bytesDecoded
            summary.bytesOut = output.bytesWritten
            summary.seconds = (clock.now - started).seconds
            summary.events = rewriting.events
            summary.repeatsSkipped = rewriting.rewriter.repeatsSkipped
            summary.probesRefused = rewriting.rewriter.repeatProbesRefused
            printError(summary.report())
        }
    }
}

struct RewriteSummary {
    var events = 0
    var bytesIn = 0
    var bytesOut = 0
    var seconds = 0.0
    var repeatsSkipped = (trees: 0, bytes: 0)
    var probesRefused = 0
    var newByKind: [AssetKind: (count: Int, bytes: Int)] = [:]
    var reusedByKind: [AssetKind: (count: Int, bytes: Int)] = [:]

    mutating func count(_ asset: ExtractedAsset, isNew: Bool) {
        if isNew {
            newByKind[asset.kind, default: (0, 0)].count += 1
            newByKind[asset.kind, default: (0, 0)].bytes += asset.bytes.count
        } else {
            reusedByKind[asset.kind, default: (0, 0)].count += 1
            reusedByKind[asset.kind, default: (0, 0)].bytes += asset.bytes.count
        }
    }

    mutating func merge(_ other: RewriteSummary) {
        for (kind, value) in other.newByKind {
            newByKind[kind, default: (0, 0)].count += value.count
            newByKind[kind, default: (0, 0)].bytes += value.bytes
        }
        for (kind, value) in other.reusedByKind {
            reusedByKind[kind, default: (0, 0)].count += value.count
            reusedByKind[kind, default: (0, 0)].bytes += value.bytes
        }
    }

    func report() -> String {
        let newBytes = newByKind.values.reduce(0) { $0 + $1.bytes }
        var lines = [
            "events: \(events)",
            "bytes in: \(bytesIn)",
            "bytes out (events): \(bytesOut)",
            "bytes out (new assets): \(newBytes)",
            "events out / in: \(bytesIn > 0 ? formatted(Double(bytesOut) / Double(bytesIn)) : "-")",
            "seconds: \(formatted(seconds)) (\(seconds > 0 ? formatted(Double(bytesIn) / seconds / 1e6) : "-") MB/s)",
            "repeated subtrees stepped over: \(repeatsSkipped.trees) (\(repeatsSkipped.bytes) bytes not parsed again)"
                + (probesRefused > 0 ? ", \(probesRefused) probes given up" : ""),
            peakMemoryLine(),
            "assets (kind: new count/bytes, reused count/bytes):",
        ]
        for kind in AssetKind.allCases {
            let new = newByKind[kind] ?? (0, 0)
            let reused = reusedByKind[kind] ?? (0, 0)
            guard new.count + reused.count > 0 else { continue }
            lines.append("  \(kind.rawValue): new \(new.count)/\(new.bytes), reused \(reused.count)/\(reused.bytes)")
        }
        return lines.joined(separator: "\n")
    }
}

func formatted(_ value: Double) -> String {
    let scaled = (value * 1000).rounded() / 1000
    return "\(scaled)"
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
