import Synchronization

/// Tests that push the whole corpus through servers and child processes take turns: on
/// the two-core CI machine, several of them at once beside every other suite starved a
/// server's response for libcurl's 30 s stall limit. Each runs its body in `withTurn`;
/// at most `concurrent` bodies run at once, the others wait (FIFO) without a thread.
public enum HeavyTests {
    public static let concurrent = 2
    private static let state = Mutex(State())

    private struct State {
        var running = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    public static func withTurn<T>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private static func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let runNow = state.withLock { state -> Bool in
                if state.running < concurrent { state.running += 1; return true }
                state.waiting.append(continuation)
                return false
            }
            if runNow { continuation.resume() }
        }
    }

    private static func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiting.isEmpty { state.running -= 1; return nil }
            return state.waiting.removeFirst()  // the turn passes on: running stays the same
        }
        next?.resume()
    }
}
