/// What a reader must fetch before it can rehydrate one event, as a value: the rehydrator
/// is synchronous and its source must hold every asset the event expands to, at any depth.
/// The plan knows the rehydrator's rules (which references a mode expands, what a tree or a
/// nested text names below it), so a reader that fetches asynchronously never restates them:
///
///     var plan = try RehydrationPlan(event: bytes, mode: mode)
///     while case let level = plan.takeWanted(), !level.isEmpty {
///         for reference in level { try plan.supply(reference, bytes: try await fetch(reference)) }
///     }
///     try rehydrator.rehydrate(bytes, into: &out, source: plan.assets)
///
/// `wanted` lists each digest once, level by level (an event's own references first, then
/// what the assets supplied name), with the kind and media type the first reference gave,
/// so the likely stored encoding is known before the first request.
public struct RehydrationPlan {
    public let mode: RehydrateMode
    /// References not yet handed over by `takeWanted`, one per digest.
    public private(set) var wanted: [AssetReference] = []
    /// What has been supplied so far: the source to rehydrate from once `wanted` is empty.
    public private(set) var assets = InMemoryAssetSource()
    /// Bytes supplied so far (each digest once).
    public private(set) var suppliedBytes = 0
    private var requested: Set<SHA256Digest> = []
    private var sawReferences = false

    /// Plans the event `event` (one rewritten JSON value).
    public init(event: UnsafeRawBufferPointer, mode: RehydrateMode, maxDepth: Int = 512) throws {
        self.mode = mode
        want(try ReferenceScanner.references(in: event, maxDepth: maxDepth))
    }

    public init(event: [UInt8], mode: RehydrateMode, maxDepth: Int = 512) throws {
        self = try event.withUnsafeBytes { try RehydrationPlan(event: $0, mode: mode, maxDepth: maxDepth) }
    }

    /// Whether the event holds no reference at all: it is put back as it is. (In URL mode an
    /// event whose references are all links needs no bytes, yet still a rehydrator pass.)
    public var needsNothing: Bool { !sawReferences }

    /// The wanted references, handed over once: fetch them (concurrently, if you like) and
    /// `supply` each; what they name is wanted next. Empty when the plan is complete.
    public mutating func takeWanted() -> [AssetReference] {
        defer { wanted = [] }
        return wanted
    }

    /// Supplies the stored bytes of a wanted reference; what they name joins `wanted`.
    /// Throws `.corruptAsset` when a tree asset is not JSON (the store is damaged).
    public mutating func supply(_ reference: AssetReference, bytes: [UInt8]) throws {
        guard assets.assets[reference.digest] == nil else { return }
        assets.assets[reference.digest] = bytes
        suppliedBytes += bytes.count
        switch reference.kind {
        case .tree:
            do {
                want(try ReferenceScanner.references(in: bytes))
            } catch let error as RRStoreError where error.code == .invalidJSON || error.code == .truncatedInput {
                throw RRStoreError(.corruptAsset, "tree asset \(reference.digest) is not valid JSON (\(error)); the asset store is damaged")
            }
        case .nestedText where expandsDataURIs:
            want(bytes.withUnsafeBytes { ReferenceScanner.embeddedReferences(inNestedText: $0) })
        default:
            break
        }
    }

    /// Inline mode puts data-URI payloads back; URL mode writes a link and needs no bytes.
    private var expandsDataURIs: Bool {
        if case .inline = mode { true } else { false }
    }

    private mutating func want(_ references: [AssetReference]) {
        if !references.isEmpty { sawReferences = true }
        for reference in references where !(reference.kind == .dataURI && !expandsDataURIs) {
            guard requested.insert(reference.digest).inserted else { continue }
            wanted.append(reference)
        }
    }
}
