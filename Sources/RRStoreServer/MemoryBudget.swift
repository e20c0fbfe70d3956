import Synchronization

/// Bytes the service may hold for request bodies and their decoded, rewritten events, all
/// requests together. A request takes what it needs as it goes and gives it back when it
/// is done; when the budget is spent, the request is refused with 503 and `Retry-After`
/// at once instead of waiting (a waiter holding part of the budget could wait forever for
/// the rest). So memory stays bounded whatever the number of connections, and no slow
/// client can make others wait: it holds only what it has sent, and only until its body
/// deadline.
final class MemoryBudget: Sendable {
    let capacity: Int
    private let used = Mutex(0)

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var inUse: Int { used.withLock { $0 } }

    /// Takes `bytes` if they are free.
    func tryReserve(_ bytes: Int) -> Bool {
        guard bytes > 0 else { return true }
        return used.withLock { used in
            guard bytes <= capacity - used else { return false }
            used += bytes
            return true
        }
    }

    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        used.withLock { $0 = max(0, $0 - bytes) }
    }
}

/// One request's share of a `MemoryBudget`, given back when the request ends.
final class MemoryReservation: @unchecked Sendable {
    // Used by one request's task at a time; the class only gives it a deinit-free end.
    private let budget: MemoryBudget
    private(set) var held = 0

    init(_ budget: MemoryBudget) {
        self.budget = budget
    }

    /// Holds `total` bytes in all (more if needed), or throws 503.
    func grow(to total: Int) throws {
        guard total > held else { return }
        guard budget.tryReserve(total - held) else {
            throw APIError.busy("the server holds as many request bytes as it may (\(budget.capacity >> 20) MiB); retry shortly")
        }
        held = total
    }

    func add(_ bytes: Int) throws {
        let (total, overflow) = held.addingReportingOverflow(bytes)
        guard !overflow else { throw APIError.busy("the request is too large to hold") }
        try grow(to: total)
    }

    func releaseAll() {
        budget.release(held)
        held = 0
    }

    static func with<T>(_ budget: MemoryBudget, _ body: (MemoryReservation) async throws -> T) async throws -> T {
        let reservation = MemoryReservation(budget)
        defer { reservation.releaseAll() }
        return try await body(reservation)
    }
}
