import Synchronization

/// Runs `body`, or throws `timeout()` once `seconds` have passed. The body is cancelled
/// then, but not waited for: a blocking store call (a libcurl transfer to a stalled S3)
/// ignores cancellation, and the client must get its answer at the deadline all the same.
/// For work whose time a client's patience bounds: reading a body, store round trips.
///
/// Inlinable so each caller gets code specialized to its `T`: unspecialized, every call
/// looked up `DeadlineRace<T>`'s generic metadata at run time, and a read, which wraps each
/// asset fetch, lost 6-9% of its speed to it when this moved here from the server.
@inlinable
public func withDeadline<T: Sendable>(seconds: Double, _ timeout: @escaping @Sendable () -> any Error,
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
@usableFromInline
final class DeadlineRace<T: Sendable>: Sendable {
    @usableFromInline
    struct State {
        @usableFromInline var continuation: CheckedContinuation<T, any Error>?
        @usableFromInline var outcome: Result<T, any Error>?
        @usableFromInline var work: Task<Void, Never>?
        @usableFromInline var timer: Task<Void, Never>?
        @usableFromInline init() {}
    }
    @usableFromInline let state = Mutex(State())

    @usableFromInline init() {}

    @inlinable
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

    @inlinable
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
