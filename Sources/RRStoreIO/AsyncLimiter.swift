import RRStoreCore
import Synchronization

/// At most `limit` bodies at a time; the rest wait their turn (FIFO). Bounds the memory of
/// work whose size is per request (a decoded, rewritten event batch), whatever the number
/// of connections; in tests, how many corpus-heavy tests run at once.
public final class AsyncLimiter: Sendable {
    private struct State {
        var available: Int
        var waiters = FIFOQueue<CheckedContinuation<Void, Never>>()
    }
    private let state: Mutex<State>

    public let limit: Int

    public init(limit: Int) {
        self.limit = max(1, limit)
        state = Mutex(State(available: max(1, limit)))
    }

    /// Callers waiting for a permit now.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Inlinable so callers get it specialized to their `T` (see `withDeadline`).
    @inlinable
    public func withPermit<T>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    @usableFromInline
    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    @usableFromInline
    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiters.popFirst() else {
                state.available += 1
                return nil
            }
            return waiter
        }
        next?.resume()
    }
}
