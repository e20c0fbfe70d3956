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

/// Runs `body`, or throws `timeout()` once `seconds` have passed. The body is cancelled
/// then, but not waited for: a blocking store call (a libcurl transfer to a stalled S3)
/// ignores cancellation, and the client must get its answer at the deadline all the same.
/// For work whose time a client's patience bounds: reading a body, store round trips.
func withDeadline<T: Sendable>(seconds: Double, _ timeout: @escaping @Sendable () -> any Error,
                               _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    guard seconds > 0, seconds.isFinite else { return try await body() }
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.start(continuation,
                       work: Task {
                           do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
                       },
                       timer: Task {
                           try? await Task.sleep(for: .milliseconds(Int64(min(seconds, 86_400) * 1000)))
                           if !Task.isCancelled { race.finish(.failure(timeout())) }
                       })
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// Whichever of work, timer or cancellation ends first resumes the caller; the others
/// are cancelled and their outcome dropped.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var outcome: Result<T, any Error>?
        var work: Task<Void, Never>?
        var timer: Task<Void, Never>?
    }
    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T, any Error>, work: Task<Void, Never>, timer: Task<Void, Never>) {
        let early = state.withLock { state -> Result<T, any Error>? in
            state.work = work
            state.timer = timer
            if let outcome = state.outcome { return outcome }
            state.continuation = continuation
            return nil
        }
        if let early {
            work.cancel()
            timer.cancel()
            continuation.resume(with: early)
        }
    }

    func finish(_ outcome: Result<T, any Error>) {
        let (continuation, work, timer) = state.withLock { state -> (CheckedContinuation<T, any Error>?, Task<Void, Never>?, Task<Void, Never>?) in
            guard state.outcome == nil else { return (nil, nil, nil) }
            state.outcome = outcome
            defer { state.continuation = nil }
            return (state.continuation, state.work, state.timer)
        }
        work?.cancel()
        timer?.cancel()
        continuation?.resume(with: outcome)
    }
}
