/// Puts the original client's overlapping posts back in its order. It posts every event on
/// its own as soon as rrweb emits it, numbered by `sequence` from 0 in the page, and does
/// not wait for one post before the next, so they can arrive (and would be stored) out of
/// order. An envelope whose predecessors have not been committed yet waits for them — up
/// to a deadline, so a lost post delays the ones after it once, never forever.
///
/// The rules, as a value without I/O or clocks (the service wraps it in `EnvelopeSequencer`):
/// per recording, `next` is the sequence all before which are committed (or given up on).
/// An envelope at or below `next` goes at once; one above it waits until `next` reaches it,
/// or its deadline passes. A recording this instance has not seen starts at 0: after a
/// restart, the first envelope of a recording in flight waits its deadline once.
struct EnvelopeOrder {
    struct Key: Hashable { var tenant: String; var recording: String }

    private struct Line {
        var next = 0
        /// Waiting envelopes by sequence, each with the tickets waiting on it (a retry of
        /// the same envelope can wait beside the first).
        var waiting: [Int: [Int]] = [:]
        var lastUsed: Int64 = 0

        /// Takes out the tickets of every envelope whose turn has come.
        mutating func releaseDue() -> [Int] {
            let due = waiting.keys.filter { $0 <= next }.sorted()
            return due.flatMap { waiting.removeValue(forKey: $0) ?? [] }
        }
    }

    private var lines: [Key: Line] = [:]
    private var nextTicket = 0
    /// Recordings remembered at most; the idle ones are forgotten first.
    let capacity: Int

    init(capacity: Int = 100_000) { self.capacity = capacity }

    enum Arrival: Equatable { case go, wait(ticket: Int) }

    /// An envelope arrives: it goes now, or waits with a ticket.
    mutating func arrive(_ key: Key, sequence: Int, now: Int64) -> Arrival {
        if lines[key] == nil { forgetIdleIfFull() }
        var line = lines[key] ?? Line()
        defer { line.lastUsed = now; lines[key] = line }
        guard sequence > line.next else { return .go }
        nextTicket += 1
        line.waiting[sequence, default: []].append(nextTicket)
        return .wait(ticket: nextTicket)
    }

    /// The envelope at `sequence` is committed (or refused): returns the tickets that may go now.
    mutating func finished(_ key: Key, sequence: Int, now: Int64) -> [Int] {
        guard var line = lines[key] else { return [] }
        defer { line.lastUsed = now; lines[key] = line }
        line.next = max(line.next, sequence + 1)
        return line.releaseDue()
    }

    /// A waiting envelope's deadline passed: it goes, and the order stops waiting for
    /// anything before it (a late one is stored in arrival order). Returns the tickets that
    /// go now: this one and any others at or before it; none if it went already.
    mutating func deadlinePassed(_ key: Key, sequence: Int, ticket: Int) -> [Int] {
        guard var line = lines[key], line.waiting[sequence]?.contains(ticket) == true else { return [] }
        defer { lines[key] = line }
        line.next = max(line.next, sequence)
        return line.releaseDue()
    }

    var rememberedRecordings: Int { lines.count }

    private mutating func forgetIdleIfFull() {
        guard lines.count >= capacity else { return }
        // Forget the least recently used half of the recordings nobody waits on.
        let idle = lines.filter { $0.value.waiting.isEmpty }.sorted { $0.value.lastUsed < $1.value.lastUsed }
        for (key, _) in idle.prefix(max(1, capacity / 2)) { lines[key] = nil }
    }
}

/// The service's `EnvelopeOrder`: waiting envelopes suspend until their turn or deadline.
actor EnvelopeSequencer {
    private var order: EnvelopeOrder
    private var continuations: [Int: CheckedContinuation<Void, Never>] = [:]
    private let waitSeconds: Double

    init(waitSeconds: Double, capacity: Int = 100_000) {
        self.waitSeconds = waitSeconds
        self.order = EnvelopeOrder(capacity: capacity)
    }

    /// Runs `body` in the envelope's turn: after the envelopes before it are committed (or
    /// after the wait), and marks it finished whether `body` succeeds or throws.
    nonisolated func inTurn<T: Sendable>(_ key: EnvelopeOrder.Key, sequence: Int, _ body: () async throws -> T) async throws -> T {
        await awaitTurn(key, sequence: sequence)
        do {
            let result = try await body()
            await finish(key, sequence: sequence)
            return result
        } catch {
            await finish(key, sequence: sequence)
            throw error
        }
    }

    private func awaitTurn(_ key: EnvelopeOrder.Key, sequence: Int) async {
        guard waitSeconds > 0, case .wait(let ticket) = order.arrive(key, sequence: sequence, now: ServerState.now()) else { return }
        let seconds = waitSeconds
        // The deadline wakes the waiter if its turn has not come by then.
        let deadline = Task { [weak self] in
            try? await Task.sleep(for: .seconds(seconds))
            await self?.deadlinePassed(key, sequence: sequence, ticket: ticket)
        }
        await withCheckedContinuation { continuations[ticket] = $0 }
        deadline.cancel()
    }

    private func deadlinePassed(_ key: EnvelopeOrder.Key, sequence: Int, ticket: Int) {
        for ticket in order.deadlinePassed(key, sequence: sequence, ticket: ticket) {
            continuations.removeValue(forKey: ticket)?.resume()
        }
    }

    private func finish(_ key: EnvelopeOrder.Key, sequence: Int) {
        for ticket in order.finished(key, sequence: sequence, now: ServerState.now()) {
            continuations.removeValue(forKey: ticket)?.resume()
        }
    }
}
