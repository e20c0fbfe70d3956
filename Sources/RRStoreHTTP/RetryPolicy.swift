/// How many times an idempotent HTTP exchange is tried, and how long to wait between
/// tries: exponential backoff with full jitter (a random wait up to the bound), so a crowd
/// of clients retrying after one outage does not come back in step. One policy for the S3
/// client, the service client and anything else that speaks HTTP through `CurlTransport`.
public struct RetryPolicy: Sendable, Equatable {
    /// Tries in all (at least 1).
    public var attempts: Int
    public var baseDelaySeconds: Double
    public var maxDelaySeconds: Double

    public init(attempts: Int = 4, baseDelaySeconds: Double = 0.1, maxDelaySeconds: Double = 20) {
        self.attempts = max(1, attempts)
        self.baseDelaySeconds = max(0, baseDelaySeconds)
        self.maxDelaySeconds = max(0, maxDelaySeconds)
    }

    public init(attempts: Int, baseDelayMilliseconds: Int) {
        self.init(attempts: attempts, baseDelaySeconds: Double(baseDelayMilliseconds) / 1000)
    }

    /// Whether a failed attempt number `attempt` (1 for the first) may be followed by another.
    public func mayRetry(after attempt: Int) -> Bool { attempt < attempts }

    /// The upper bound of the wait after attempt number `attempt`.
    public func bound(after attempt: Int) -> Double {
        min(maxDelaySeconds, baseDelaySeconds * Double(1 << min(max(attempt - 1, 0), 20)))
    }

    /// A wait after attempt number `attempt`: uniformly random up to `bound(after:)`.
    public func delay(after attempt: Int) -> Double { Double.random(in: 0...bound(after: attempt)) }

    /// Waits `delay(after:)` without blocking a thread.
    public func wait(after attempt: Int) async throws {
        try await Task.sleep(for: .milliseconds(Int64(delay(after: attempt) * 1000)))
    }
}
