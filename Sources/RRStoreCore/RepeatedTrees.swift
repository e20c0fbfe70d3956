#if canImport(Glibc)
import func Glibc.memcmp
#elseif canImport(Musl)
import func Musl.memcmp
#elseif canImport(Darwin)
import func Darwin.memcmp
#endif

/// An asset the rewriter handed to its sink, kept so the hand-over can be repeated.
struct LoggedAsset {
    var reference: AssetReference
    var bytes: [UInt8]
}

/// Trees the rewriter extracted recently, kept with their *input* bytes, so that a subtree
/// that repeats byte for byte — the same `<head>` on every page, the same page snapshotted
/// at each checkout — is recognised at its opening bracket and stepped over with one
/// `memcmp` instead of being parsed again. Parsing is the rewriter's main cost; comparing
/// is an order of magnitude cheaper.
///
/// Equal input bytes rewrite to equal output and equal assets, so a hit replays what the
/// first parse produced: the tree's reference, and every asset found inside it, in order.
/// Those bytes were validated when first parsed; a hit only needs them to fit in the
/// caller's buffer and to sit no deeper than they did then (the depth limit still holds).
///
/// Each event adds one segment: the input bytes of its outermost new trees (nested ones
/// point into them, so a byte is kept once however deep it sits) and the assets it
/// logged. Bounded by bytes: when over capacity, the older half of the segments goes.
struct RepeatedTrees {
    final class Segment {
        let raw: [UInt8]
        let assets: [LoggedAsset]
        var trees: [Tree] = []
        let cost: Int
        init(raw: [UInt8], assets: [LoggedAsset]) {
            self.raw = raw
            self.assets = assets
            cost = raw.count + assets.reduce(0) { $0 + $1.bytes.count + 64 }
        }
    }

    struct Tree {
        var rawStart: Int
        var rawCount: Int
        /// The assets the tree's parse handed over, the tree itself last.
        var assets: Range<Int>
        var depth: Int
        var quick: UInt64
        var prefix: UInt64
    }

    /// A tree the current event produced, by its span in the event's input.
    struct Pending {
        var start: Int
        var end: Int
        var assets: Range<Int>
        var depth: Int
    }

    struct Hit {
        let segment: Segment
        let tree: Tree
        var count: Int { tree.rawCount }
        var assets: ArraySlice<LoggedAsset> { segment.assets[tree.assets] }
    }

    /// Bytes a probe fingerprints at every opening bracket, to consult the filter.
    static let quickLength = 32
    /// Bytes fingerprinted when the filter says maybe, to find candidates; shorter trees
    /// are not kept. Long enough that siblings of one shape rarely share it.
    static let prefixLength = 256
    /// Same-prefix candidates compared before giving up (siblings often share a prefix).
    static let maxCandidates = 16

    let capacityBytes: Int
    private var segments: [Segment] = []
    private var firstSerial = 0
    private var bytes = 0
    /// Open addressing: the prefix fingerprint and (segment serial + 1) << 32 | tree index.
    private var slotPrefix: [UInt64] = []
    private var slotTree: [UInt64] = []
    private var used = 0
    /// One bit per fingerprint bucket: most probes end here, in a table small enough for L1.
    private var filter: [UInt64] = []

    /// What the event being rewritten logged and produced; committed by `addEvent`.
    private(set) var log: [LoggedAsset] = []
    private var pending: [Pending] = []
    /// Trees replayed so far: a tree with a replayed one inside is not kept (its bytes
    /// would be kept twice); the trees inside it still are.
    private(set) var replays = 0
    /// Input bytes stepped over by replays.
    private(set) var replayedBytes = 0
    /// Bytes of candidates compared in vain in this event. Crafted input could line up
    /// near-misses at every level of a deep tree; past a budget proportional to the bytes
    /// already read, the event is parsed without probing (see `lookup`).
    private var failedBytes = 0
    /// Probes refused for that reason so far.
    private(set) var probesRefused = 0

    /// Allocates nothing until a tree is kept: rewriters are made per request.
    init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    var isEnabled: Bool { capacityBytes > 0 }

    /// Notes an asset handed to the sink, so that trees around it can replay it.
    mutating func logAsset(_ reference: AssetReference, bytes: [UInt8]) {
        guard isEnabled else { return }
        log.append(LoggedAsset(reference: reference, bytes: bytes))
    }

    /// Notes a tree the rewriter extracted from `input[start..<end]`, its assets logged since
    /// `logStart`. It is kept at the event's end unless a replay happened inside it.
    mutating func logTree(_ reference: AssetReference, bytes: [UInt8], start: Int, end: Int, depth: Int,
                          logStart: Int, replaysBefore: Int) {
        guard isEnabled else { return }
        log.append(LoggedAsset(reference: reference, bytes: bytes))
        if replays == replaysBefore {
            pending.append(Pending(start: start, end: end, assets: logStart..<log.count, depth: depth))
        }
    }

    /// Notes a replay: trees around it replay its assets too.
    mutating func logReplay(_ hit: Hit) {
        log.append(contentsOf: hit.assets)
        replays += 1
        replayedBytes += hit.count
    }

    mutating func beginEvent() {
        log.removeAll(keepingCapacity: true)
        pending.removeAll(keepingCapacity: true)
        failedBytes = 0
    }

    /// A fingerprint of `length` bytes (a multiple of 32) at `p`; not cryptographic: a
    /// match is always confirmed by comparing the bytes.
    @inline(__always)
    static func fingerprint(_ p: UnsafeRawPointer, length: Int) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3
        var offset = 0
        while offset < length {
            let a = p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            let b = p.loadUnaligned(fromByteOffset: offset &+ 8, as: UInt64.self)
            let c = p.loadUnaligned(fromByteOffset: offset &+ 16, as: UInt64.self)
            let d = p.loadUnaligned(fromByteOffset: offset &+ 24, as: UInt64.self)
            h ^= (a &* 0x9E37_79B9_7F4A_7C15) ^ (b &* 0xC2B2_AE3D_27D4_EB4F)
            h ^= (c &* 0x1656_67B1_9E37_79F9) ^ (d &* 0x85EB_CA77_C2B2_AE63)
            h = (h ^ (h >> 29)) &* 0xBF58_476D_1CE4_E5B9
            offset &+= 32
        }
        return (h ^ (h >> 32)) | 1  // never 0
    }

    @inline(__always)
    private func filterHas(_ h: UInt64) -> Bool {
        let bit = Int(truncatingIfNeeded: h >> 40) & (filter.count &* 64 &- 1)
        return filter.withUnsafeBufferPointer { $0[bit &>> 6] & (1 &<< UInt64(bit & 63)) != 0 }
    }

    /// The tree whose input bytes start `bytes[start...]`, if one was kept.
    /// The tree whose input bytes start `bytes[start...]`, if one was kept (`bytes` starts
    /// at the event).
    @inline(__always)
    mutating func find(_ bytes: UnsafeRawBufferPointer, at start: Int, depth: Int) -> Hit? {
        let available = bytes.count &- start
        guard used > 0, available >= Self.prefixLength, let base = bytes.baseAddress else { return nil }
        guard filterHas(Self.fingerprint(base + start, length: Self.quickLength)) else { return nil }
        return lookup(base + start, at: start, available: available, depth: depth)
    }

    @inline(never)
    private mutating func lookup(_ p: UnsafeRawPointer, at start: Int, available: Int, depth: Int) -> Hit? {
        // Wasted comparisons stay within a few times the bytes read: ~memcmp speed, a small
        // fraction of what parsing those bytes costs.
        guard failedBytes <= 32 * start + (4 << 20) else {
            probesRefused += 1
            return nil
        }
        let h = Self.fingerprint(p, length: Self.prefixLength)
        let mask = slotPrefix.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        var tried = 0
        while slotTree[i] != 0, tried < Self.maxCandidates {
            if slotPrefix[i] == h {
                tried += 1
                let serial = Int(slotTree[i] >> 32) - 1
                let segment = segments[serial - firstSerial]
                let tree = segment.trees[Int(slotTree[i] & 0xFFFF_FFFF)]
                if tree.rawCount <= available, depth <= tree.depth {
                    let compared = segment.raw.withUnsafeBytes { Self.comparedBytes($0.baseAddress! + tree.rawStart, p, tree.rawCount) }
                    if compared < 0 { return Hit(segment: segment, tree: tree) }
                    failedBytes += compared
                }
            }
            i = (i + 1) & mask
        }
        return nil
    }

    /// -1 if the `count` bytes at `a` and `b` are equal, else how many were compared before
    /// the difference turned up (in blocks, so a near miss is charged what it cost).
    private static func comparedBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Int {
        let block = 4096
        var offset = 0
        while offset < count {
            let n = min(block, count - offset)
            if memcmp(a + offset, b + offset, n) != 0 { return offset + n }
            offset += n
        }
        return -1
    }

    /// Keeps the trees the event produced (input: the event's bytes as parsed).
    mutating func addEvent(_ input: UnsafeRawBufferPointer) {
        guard isEnabled, !pending.isEmpty else { return }
        // `pending` is in post-order (a tree after its descendants), so walking it backwards
        // meets each outermost tree before the trees inside it. Only the outermost trees'
        // bytes and logged assets are copied; the trees inside point into them.
        let kept = pending.reversed().filter { $0.end - $0.start >= Self.prefixLength }
        func outside(_ tree: Pending, _ cover: (start: Int, end: Int)) -> Bool { tree.start < cover.start || tree.end > cover.end }
        var outermostBytes = 0
        var last = (start: 0, end: 0)
        for tree in kept where outside(tree, last) {
            last = (tree.start, tree.end)
            outermostBytes += tree.end - tree.start
        }
        guard outermostBytes > 0, outermostBytes <= capacityBytes / 4 else { return }
        var raw: [UInt8] = []
        raw.reserveCapacity(outermostBytes)
        var assets: [LoggedAsset] = []
        var trees: [Tree] = []
        var cover = (start: 0, end: 0, at: 0, logStart: 0, assetsAt: 0)
        for tree in kept {
            if outside(tree, (cover.start, cover.end)) {
                cover = (tree.start, tree.end, raw.count, tree.assets.lowerBound, assets.count)
                raw.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[tree.start..<tree.end]))
                assets.append(contentsOf: log[tree.assets])
            }
            let rawStart = cover.at + (tree.start - cover.start)
            let shift = cover.assetsAt - cover.logStart
            let (quick, prefix) = raw.withUnsafeBytes {
                (Self.fingerprint($0.baseAddress! + rawStart, length: Self.quickLength),
                 Self.fingerprint($0.baseAddress! + rawStart, length: Self.prefixLength))
            }
            trees.append(Tree(rawStart: rawStart, rawCount: tree.end - tree.start,
                              assets: (tree.assets.lowerBound + shift)..<(tree.assets.upperBound + shift),
                              depth: tree.depth, quick: quick, prefix: prefix))
        }
        let segment = Segment(raw: raw, assets: assets)
        guard segment.cost <= capacityBytes / 4 else { return }
        segment.trees = trees
        segments.append(segment)
        bytes += segment.cost
        if bytes > capacityBytes {
            let drop = max(1, segments.count / 2)
            for old in segments[..<drop] { bytes -= old.cost }
            segments.removeFirst(drop)
            firstSerial += drop
            rebuild()
        } else {
            index(segments.count - 1)
        }
    }

    private mutating func index(_ position: Int) {
        let segment = segments[position]
        if slotPrefix.isEmpty || (used + segment.trees.count) * 2 > slotPrefix.count {
            rebuild(minimumSlots: (used + segment.trees.count) * 2)
            return
        }
        insertSlots(of: segment, serial: firstSerial + position)
    }

    private mutating func rebuild(minimumSlots: Int = 0) {
        let live = segments.reduce(0) { $0 + $1.trees.count }
        var slots = 1024
        while slots < max(minimumSlots, live * 2) { slots *= 2 }
        resize(slots: slots)
        for (position, segment) in segments.enumerated() { insertSlots(of: segment, serial: firstSerial + position) }
    }

    private mutating func resize(slots: Int) {
        slotPrefix = [UInt64](repeating: 0, count: slots)
        slotTree = [UInt64](repeating: 0, count: slots)
        // 16 KiB, so it stays in L1 beside the parse: 1 in 8 bits set with 16k trees kept.
        filter = [UInt64](repeating: 0, count: 2048)
        used = 0
    }

    private mutating func insertSlots(of segment: Segment, serial: Int) {
        let mask = slotPrefix.count - 1
        let filterMask = filter.count * 64 - 1
        for (index, tree) in segment.trees.enumerated() {
            var i = Int(truncatingIfNeeded: tree.prefix) & mask
            while slotTree[i] != 0 { i = (i + 1) & mask }
            slotPrefix[i] = tree.prefix
            slotTree[i] = UInt64(serial + 1) << 32 | UInt64(index)
            let bit = Int(truncatingIfNeeded: tree.quick >> 40) & filterMask
            filter[bit >> 6] |= 1 << UInt64(bit & 63)
            used += 1
        }
    }
}
