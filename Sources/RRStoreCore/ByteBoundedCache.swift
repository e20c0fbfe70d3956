/// A map bounded by the bytes its values hold: oldest insertion out first once over
/// capacity. A value larger than a quarter of the capacity is not kept at all.
public struct ByteBoundedCache<Key: Hashable, Value> {
    public let capacityBytes: Int
    private var entries: [Key: (value: Value, cost: Int)] = [:]
    private var order: [Key] = []
    private var head = 0
    public private(set) var bytes = 0

    public init(capacityBytes: Int) { self.capacityBytes = capacityBytes }

    public subscript(key: Key) -> Value? { entries[key]?.value }

    /// Inserts or replaces the value under `key`, which holds `cost` bytes.
    public mutating func insert(_ value: Value, for key: Key, cost: Int) {
        guard cost <= capacityBytes / 4 else { return }
        if let replaced = entries.updateValue((value, cost), forKey: key) {
            bytes -= replaced.cost
        } else {
            order.append(key)
        }
        bytes += cost
        while bytes > capacityBytes, head < order.count {
            if let evicted = entries.removeValue(forKey: order[head]) { bytes -= evicted.cost }
            head += 1
        }
        // Drop the evicted prefix of the queue now and then, not on every eviction.
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
