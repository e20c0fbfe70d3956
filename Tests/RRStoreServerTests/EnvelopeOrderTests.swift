@testable import RRStoreServer
import Testing

/// The rules that put the original client's overlapping posts back in its order, as a
/// value: no clock, no I/O.
@Suite struct EnvelopeOrderTests {
    let key = EnvelopeOrder.Key(tenant: "t", recording: "r")

    @Test func anEnvelopeWaitsForTheOnesBeforeIt() {
        var order = EnvelopeOrder()
        #expect(order.arrive(key, sequence: 0, now: 1) == .go)
        guard case .wait(let two) = order.arrive(key, sequence: 2, now: 1) else { Issue.record("2 must wait for 1"); return }
        guard case .wait(let one) = order.arrive(key, sequence: 1, now: 1) else { Issue.record("1 must wait for 0"); return }
        #expect(order.finished(key, sequence: 0, now: 2) == [one])
        #expect(order.finished(key, sequence: 1, now: 2) == [two])
        #expect(order.finished(key, sequence: 2, now: 2) == [])
        #expect(order.arrive(key, sequence: 1, now: 3) == .go, "a late retry goes at once")
        #expect(order.arrive(EnvelopeOrder.Key(tenant: "u", recording: "r"), sequence: 0, now: 3) == .go, "each tenant's recording has its own order")
    }

    @Test func aPassedDeadlineReleasesItAndWhatWaitsBeforeIt() {
        var order = EnvelopeOrder()
        guard case .wait(let five) = order.arrive(key, sequence: 5, now: 1),
              case .wait(let three) = order.arrive(key, sequence: 3, now: 1),
              case .wait(let seven) = order.arrive(key, sequence: 7, now: 1) else { Issue.record("all wait"); return }
        // 5's deadline: 5 goes, and 3 (before it) too; 7 still waits for 6.
        #expect(order.deadlinePassed(key, sequence: 5, ticket: five) == [three, five])
        #expect(order.deadlinePassed(key, sequence: 5, ticket: five) == [], "once")
        #expect(order.finished(key, sequence: 5, now: 2) == [])
        #expect(order.finished(key, sequence: 6, now: 2) == [seven])
    }

    @Test func idleRecordingsAreForgottenPastTheCapacity() {
        var order = EnvelopeOrder(capacity: 4)
        for n in 0..<10 {
            let key = EnvelopeOrder.Key(tenant: "t", recording: "r\(n)")
            _ = order.arrive(key, sequence: 0, now: Int64(n))
            _ = order.finished(key, sequence: 0, now: Int64(n))
        }
        #expect(order.rememberedRecordings <= 4)
    }
}
