/// Runs `work` on every item, at most `limit` at a time (a new one starts as one ends), and
/// hands each result to `collect` as it arrives. The first error cancels the rest and is
/// thrown. For I/O-bound fan-out with a bound: asset stores, uploads, backfilled sessions.
public func forEachConcurrently<Item: Sendable, Result: Sendable>(
    _ items: [Item], limit: Int,
    _ work: @escaping @Sendable (Item) async throws -> Result,
    collect: (Result) throws -> Void = { _ in }
) async throws {
    guard !items.isEmpty else { return }
    try await withThrowingTaskGroup(of: Result.self) { group in
        var next = 0
        func startNext() {
            guard next < items.count else { return }
            let item = items[next]
            next += 1
            group.addTask { try await work(item) }
        }
        for _ in 0..<max(1, limit) { startNext() }
        while let result = try await group.next() {
            try collect(result)
            startNext()
        }
    }
}
