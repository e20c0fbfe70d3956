/// A first-in, first-out queue as a value: appends at the back, takes from the front in
/// O(1) amortized (a head index; the taken front is dropped once it is most of the
/// storage). Guarded by its owner's lock (the blocking-work pool, the ingest limiter).
public struct FIFOQueue<Element> {
    private var storage: [Element] = []
    private var head = 0

    public init() {}

    public var count: Int { storage.count - head }
    public var isEmpty: Bool { head >= storage.count }

    public mutating func append(_ element: Element) {
        storage.append(element)
    }

    public mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        head += 1
        if head > 64 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }
}

extension FIFOQueue: Sendable where Element: Sendable {}
