import ArgumentParser
import RRStoreCore
import RRStoreStorage
import RRStoreIO

struct RehydrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rehydrate",
        abstract: "Put assets back into rewritten events.",
        discussion: """
        Reads rewritten events (NDJSON, a JSON array, or gzip of either) and writes NDJSON \
        to standard output: byte for byte the events as they were recorded, or with \
        --url-base, with data-URI assets as <URL>/assets/sha256:<hex> links.
        """
    )

    @Option(name: .long, help: "Directory the assets were written to by 'rrstore rewrite'.")
    var assets: String

    @Option(name: .long, help: "Turn data-URI assets into links under this base URL instead of putting them back inline.")
    var urlBase: String?

    @Option(name: .long, help: "Reject events larger than this many bytes.")
    var maxEventSize: Int = 256 << 20

    @Argument(help: "Input file, or - for standard input.")
    var input: String = "-"

    func run() throws {
        BatchMemory.tuneAllocator()
        try reportingErrors {
            let store = try AssetDirectory(root: assets)
            let rehydrator = Rehydrator(mode: urlBase.map { .url(base: $0) } ?? .inline)
            var reader = EventFileReader(path: input, maxEventSize: maxEventSize)
            let output = BufferedOutput()
            var events = 0
            try reader.readEvents { remainder in
                var length = 0
                do {
                    try output.write { out in
                        length = try rehydrator.rehydratePrefix(remainder, into: &out, source: store)
                        out.append(UInt8(ascii: "\n"))
                    }
                } catch var error as RRStoreError where error.code != .truncatedInput {
                    error.message = "event \(events + 1): \(error.message)"
                    throw error
                }
                events += 1
                return length
            }
            try output.flush()
            printError(["events: \(events)", "bytes in: \(reader.bytesDecoded)", "bytes out: \(output.bytesWritten)",
                        peakMemoryLine()].joined(separator: "\n"))
        }
    }
}
