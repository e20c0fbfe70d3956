/// How far a long job (a backfill) has come, drawn as one terminal line: items, megabytes,
/// rate and time left. A value: the job updates it, a terminal redraws `render`.
public struct ProgressLine: Sendable, Equatable {
    public var totalItems: Int
    public var totalBytes: Int
    public var doneItems = 0
    public var doneBytes = 0.0
    public var failedItems = 0

    public init(totalItems: Int, totalBytes: Int) {
        self.totalItems = totalItems
        self.totalBytes = totalBytes
    }

    /// E.g. ` 3/24 sessions [######------------------]  12.3/102.8 MB  4.1 MB/s  ETA 0:22`.
    public func render(elapsedSeconds: Double, noun: String = "sessions", barWidth: Int = 24) -> String {
        let fraction = totalBytes > 0 ? min(1, doneBytes / Double(totalBytes)) : (totalItems > 0 ? Double(doneItems) / Double(totalItems) : 1)
        let filled = Int((fraction * Double(barWidth)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled)
        let rate = elapsedSeconds > 0 ? doneBytes / elapsedSeconds : 0
        let eta: String
        if fraction >= 1 {
            eta = "done"
        } else if rate > 0 {
            eta = "ETA " + Self.duration((Double(totalBytes) - doneBytes) / rate)
        } else {
            eta = "ETA --:--"
        }
        var line = "\(doneItems)/\(totalItems) \(noun) [\(bar)] \(Self.megabytes(doneBytes))/\(Self.megabytes(Double(totalBytes))) MB"
        line += "  \(Self.megabytes(rate)) MB/s  \(eta)"
        if failedItems > 0 { line += "  (\(failedItems) failed)" }
        return line
    }

    static func megabytes(_ bytes: Double) -> String {
        let tenths = Int((bytes / 1e5).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// `m:ss`, or `h:mm:ss` from an hour on.
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded(.up))
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return h > 0 ? "\(h):\(two(m)):\(two(s))" : "\(m):\(two(s))"
    }
}
