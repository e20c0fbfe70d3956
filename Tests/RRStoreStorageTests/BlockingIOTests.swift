import Foundation
@testable import RRStoreIO
import Synchronization
import Testing

@Suite struct BlockingIOTests {
    /// Blocking work never waits behind other blocking work: 24 jobs that can only finish
    /// once all 24 run at the same time do finish (a width-limited dispatch queue runs a
    /// handful at once, and these would wait out their 20 s).
    @Test func blockedJobsDoNotHoldOthersBack() async throws {
        try await allRunAtOnce(jobs: 24)
    }

    /// A burst that arrives while one thread of a pool is idle: each job must claim an idle
    /// thread or start one, not all count on the same idle one (they did, and queued behind
    /// it). A pool of its own, so other tests' threads cannot hide the fault.
    @Test func aBurstWhileAThreadIsIdleGetsAThreadPerJob() async throws {
        let pool = BlockingThreadPool(maxThreads: 64, idleSeconds: 600)
        let warmed = Mutex(false)
        pool.submit { warmed.withLock { $0 = true } }
        while !warmed.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
        try await Task.sleep(for: .milliseconds(20))  // the thread is back in its idle wait
        let jobs = 16
        let running = Mutex(0), finished = Mutex(0), allMet = Mutex(true), threadsWhenAllRan = Mutex(0)
        for _ in 0..<jobs {
            pool.submit {
                running.withLock { $0 += 1 }
                let deadline = Date(timeIntervalSinceNow: 5)
                while running.withLock({ $0 }) < jobs {
                    if Date() > deadline { allMet.withLock { $0 = false }; break }
                    usleep(1000)
                }
                let threads = pool.threadCount
                threadsWhenAllRan.withLock { $0 = max($0, threads) }
                finished.withLock { $0 += 1 }
            }
        }
        while finished.withLock({ $0 }) < jobs { try await Task.sleep(for: .milliseconds(10)) }
        #expect(allMet.withLock { $0 }, "all \(jobs) ran at once")
        #expect(threadsWhenAllRan.withLock { $0 } >= jobs)
    }

    func allRunAtOnce(jobs: Int) async throws {
        final class Counter: Sendable { let value = Mutex(0) }
        let running = Counter()
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<jobs {
                group.addTask {
                    try await BlockingIO.run { () -> Bool in
                        running.value.withLock { $0 += 1 }
                        let deadline = Date(timeIntervalSinceNow: 20)
                        while running.value.withLock({ $0 }) < jobs {
                            if Date() > deadline { return false }
                            usleep(1000)
                        }
                        // Read while all of them run: idle threads may exit once they are done.
                        return BlockingIO.threads >= jobs
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.count == jobs && outcomes.allSatisfy { $0 }, "all \(jobs) ran at once, each on a thread of its own")
    }

    @Test func errorsAndResultsComeBack() async throws {
        struct Failure: Error {}
        #expect(try await BlockingIO.run { 42 } == 42)
        await #expect(throws: Failure.self) { try await BlockingIO.run { throw Failure() } }
    }
}
