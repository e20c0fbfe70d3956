import Foundation
import RRStoreCore
import Synchronization

/// Runs blocking work (file I/O, fsync, libcurl transfers) off Swift's cooperative thread
/// pool, whose few threads must never block.
///
/// Written by hand because neither obvious choice fits: a concurrent `DispatchQueue` on
/// Linux runs only about as many blocking items at once as there are cores (measured here:
/// ten 1 s sleeps took 3 s), so two stalled S3 transfers delay every file write behind
/// them, and a client and a server in one process can deadlock until a transfer times out;
/// NIO's `NIOThreadPool` has a fixed size. This pool starts a thread whenever work arrives
/// and none is idle (up to `maxThreads`, after which work waits its turn), and lets threads
/// that stay idle for a while exit.
public enum BlockingIO {
    static let pool = BlockingThreadPool(maxThreads: 512, idleSeconds: 30)

    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            pool.submit { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Threads started and alive now (for tests and metrics).
    public static var threads: Int { pool.threadCount }
}

final class BlockingThreadPool: Sendable {
    private struct State {
        var queue = FIFOQueue<@Sendable () -> Void>()
        var threads = 0
        /// Idle threads no submission has claimed yet.
        var idle = 0
        /// Claims on idle threads not yet taken up by a waking thread.
        var wakeUps = 0
    }
    private let state = Mutex(State())
    private let wakeUp = Condition()
    let maxThreads: Int
    let idleSeconds: Double

    init(maxThreads: Int, idleSeconds: Double) {
        self.maxThreads = maxThreads
        self.idleSeconds = idleSeconds
    }

    var threadCount: Int { state.withLock { $0.threads } }

    func submit(_ work: @escaping @Sendable () -> Void) {
        enum Action { case wake, start, wait }
        let action = state.withLock { state -> Action in
            state.queue.append(work)
            // Each submission claims its own idle thread: many arriving at once while one
            // thread is idle must not all count on that one (they would queue behind it).
            if state.idle > 0 {
                state.idle -= 1
                state.wakeUps += 1
                return .wake
            }
            guard state.threads < maxThreads else { return .wait }
            state.threads += 1
            return .start
        }
        switch action {
        case .start:
            let thread = Thread { [self] in workLoop() }
            thread.name = "rrstore-blocking-io"
            thread.start()
        case .wake:
            wakeUp.signal()
        case .wait:
            break
        }
    }

    /// The next queued work, or nil after marking this thread idle (in one step, so no
    /// submission can miss it).
    private func take() -> (@Sendable () -> Void)? {
        state.withLock { state in
            guard let work = state.queue.popFirst() else {
                state.idle += 1
                return nil
            }
            return work
        }
    }

    private func workLoop() {
        while true {
            if let work = take() {
                work()
                continue
            }
            _ = wakeUp.wait(seconds: idleSeconds)
            let exit = state.withLock { state -> Bool in
                // Claimed by a submission (whichever idle thread takes the claim up).
                if state.wakeUps > 0 {
                    state.wakeUps -= 1
                    return false
                }
                state.idle -= 1
                // Idle for the whole wait with nothing queued: this thread is not needed.
                guard state.queue.isEmpty else { return false }
                state.threads -= 1
                return true
            }
            if exit { return }
        }
    }
}

/// A counting wake-up for idle pool threads (NSCondition with a pending count, so a
/// signal sent before the waiter sleeps is not lost).
final class Condition: @unchecked Sendable {
    // Guarded by `condition`'s own lock.
    private let condition = NSCondition()
    private var pending = 0

    func signal() {
        condition.lock()
        pending += 1
        condition.signal()
        condition.unlock()
    }

    /// True if woken by a signal, false if `seconds` passed.
    func wait(seconds: Double) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: seconds)
        while pending == 0 {
            if !condition.wait(until: deadline) { return false }
        }
        pending -= 1
        return true
    }
}
