import RRStoreIO

/// Tests that push the whole corpus through servers and child processes take turns: on
/// the two-core CI machine, several of them at once beside every other suite starved a
/// server's response for libcurl's 30 s stall limit. Each runs its body in `withTurn`;
/// at most two bodies run at once, the others wait (FIFO) without a thread.
public enum HeavyTests {
    private static let turns = AsyncLimiter(limit: 2)

    public static func withTurn<T>(_ body: () async throws -> T) async throws -> T {
        try await turns.withPermit(body)
    }
}
