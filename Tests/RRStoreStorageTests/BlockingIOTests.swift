import Foundation
import RRStoreIO
import Synchronization
import Testing

@Suite struct BlockingIOTests {
    /// Blocking work never waits behind other blocking work: 24 jobs that can only finish
    /// once all 24 run at the same time do finish (a width-limited dispatch queue runs a
    /// handful at once, and these would wait out their 20 s).
    @Test func blockedJobsDoNotHoldOthersBack() async throws {
        final class Counter: Sendable { let value = Mutex(0) }
        let running = Counter()
        let jobs = 24
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
                        return true
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.count == jobs && outcomes.allSatisfy { $0 }, "all \(jobs) ran at once")
        #expect(BlockingIO.threads >= jobs)
    }

    @Test func errorsAndResultsComeBack() async throws {
        struct Failure: Error {}
        #expect(try await BlockingIO.run { 42 } == 42)
        await #expect(throws: Failure.self) { try await BlockingIO.run { throw Failure() } }
    }
}
