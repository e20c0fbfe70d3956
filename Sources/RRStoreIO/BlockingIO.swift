import Dispatch

/// Runs blocking work (file I/O, libcurl transfers) off Swift's cooperative thread pool,
/// whose few threads must never block.
public enum BlockingIO {
    public static let queue = DispatchQueue(label: "rrstore.blocking-io", attributes: .concurrent)

    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}
