import RRStoreCore
import Testing

@Suite struct FIFOQueueTests {
    /// Order holds across the compactions of the taken front, with appends in between.
    @Test func firstInFirstOutAcrossCompactions() {
        var queue = FIFOQueue<Int>()
        var expected: [Int] = []
        var taken: [Int] = []
        var next = 0
        for round in 0..<50 {
            for _ in 0..<(round % 7 + 3) { queue.append(next); expected.append(next); next += 1 }
            for _ in 0..<(round % 5 + 2) { if let value = queue.popFirst() { taken.append(value) } }
            #expect(queue.count == expected.count - taken.count)
        }
        while let value = queue.popFirst() { taken.append(value) }
        #expect(taken == expected)
        #expect(queue.isEmpty && queue.popFirst() == nil)
    }
}
