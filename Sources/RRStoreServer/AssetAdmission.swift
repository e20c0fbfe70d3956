import RRStoreCore
import RRStoreStorage

/// The rules an asset passes before a tenant is linked to it, by upload or by ingest, so
/// that reading it back can neither reach another tenant's bytes nor explode:
///
/// - every digest it mentions (`rrasset:`/`rrtree:` anywhere in its bytes) is held by the
///   tenant already (or arrives in the same batch);
/// - its expansion (its size plus each mention's expansion, repeats counted) is at most
///   the event size limit: an asset that expands past what one event may hold can only be
///   an amplification;
/// - a reference that reads an asset as a tree names JSON (an object or array).
///
/// Readers check links again for every digest they expand (see `EventReader`), so data
/// linked before these rules existed cannot leak either.
struct AssetAdmission {
    let state: ServerState

    /// An asset about to be linked: its digest, size and what its bytes mention.
    struct Candidate {
        var digest: SHA256Digest
        var size: Int
        var mentions: ReferenceMentions
    }

    /// Who is told what when a rule is broken: an upload's client or an events batch's.
    enum Subject {
        case upload
        case events

        var referencing: String { self == .upload ? "this asset references" : "the events reference" }
        var remedy: String {
            self == .upload ? "upload those first; nothing was stored"
                : "upload them with PUT /assets/{digest} (ask POST /assets/missing which) and retry"
        }
    }

    /// Checks new assets (an upload is a batch of one; ingest passes what it extracted,
    /// children before the trees and texts naming them) and the digests a batch's events
    /// keep as written: every digest named is among the candidates or held by the tenant,
    /// and no candidate expands past the event size limit. Returns the tenant's records of
    /// what was named (and, with `lookUpCandidates`, of the candidates) and each
    /// candidate's expansion; or a 422 saying which rule is broken.
    func admit(_ candidates: [Candidate], keeping kept: Set<SHA256Digest> = [], lookUpCandidates: Bool, tenant: String,
               subject: Subject) async throws -> (held: [SHA256Digest: AssetRecord], expansions: [SHA256Digest: Int]) {
        let mentions = Self.ownMentions(candidates)
        let offered = Set(candidates.map(\.digest))
        let named = kept.union(mentions.values.flatMap(\.digests))
        let lookup = lookUpCandidates ? named.union(offered) : named
        let held = lookup.isEmpty ? [:] : try await state.heldAssets(tenant: tenant, among: Array(lookup))
        let unknown = named.subtracting(offered).subtracting(held.keys).sorted()
        if !unknown.isEmpty {
            throw APIError(.unprocessableContent, "unknown_assets",
                           "\(subject.referencing) \(unknown.count) asset(s) this tenant has not uploaded, e.g. \(unknown[0]); \(subject.remedy)")
        }
        // Expansions bottom-up, in the order given.
        var expansions: [SHA256Digest: Int] = held.mapValues(\.expansion)
        for candidate in candidates {
            expansions[candidate.digest] = try expansion(of: candidate, mentions: mentions[candidate.digest], children: expansions).get()
        }
        return (held, expansions)
    }

    /// A batch upload's rules, asset by asset (`POST /assets/batch`): each candidate, in
    /// order, may name what the tenant holds and the candidates accepted before it; one
    /// that breaks a rule is refused alone. Returns the tenant's records of the candidates
    /// it already held and each candidate's expansion or refusal.
    func admitEach(_ candidates: [Candidate], tenant: String) async throws
        -> (held: [SHA256Digest: AssetRecord], outcomes: [Result<Int, APIError>]) {
        let mentions = Self.ownMentions(candidates)
        let lookup = Set(candidates.map(\.digest)).union(mentions.values.flatMap(\.digests))
        let held = lookup.isEmpty ? [:] : try await state.heldAssets(tenant: tenant, among: Array(lookup))
        var expansions: [SHA256Digest: Int] = held.mapValues(\.expansion)
        var outcomes: [Result<Int, APIError>] = []
        for candidate in candidates {
            if let record = held[candidate.digest] {
                // What a tenant holds was checked when it got its link.
                outcomes.append(.success(record.expansion))
                continue
            }
            let own = mentions[candidate.digest]
            let unknown = (own?.digests ?? []).filter { expansions[$0] == nil }.sorted()
            if let first = unknown.first {
                outcomes.append(.failure(APIError(.unprocessableContent, "unknown_assets",
                                                  "this asset references \(unknown.count) asset(s) this tenant has not uploaded, e.g. \(first); upload those first (earlier in the batch, or before it); it was not stored")))
                continue
            }
            let outcome = expansion(of: candidate, mentions: own, children: expansions)
            if case .success(let expansion) = outcome { expansions[candidate.digest] = expansion }
            outcomes.append(outcome)
        }
        return (held, outcomes)
    }

    /// What each candidate names besides itself (a mention of itself is inert).
    private static func ownMentions(_ candidates: [Candidate]) -> [SHA256Digest: ReferenceMentions] {
        var mentions: [SHA256Digest: ReferenceMentions] = [:]
        for candidate in candidates where !candidate.mentions.counts.isEmpty {
            var own = candidate.mentions
            own.removeMentions(of: candidate.digest)
            mentions[candidate.digest] = own
        }
        return mentions
    }

    /// What the candidate expands to through what it names, or a refusal past the event size limit.
    private func expansion(of candidate: Candidate, mentions: ReferenceMentions?, children: [SHA256Digest: Int]) -> Result<Int, APIError> {
        let limit = state.configuration.limits.maxEventBytes
        let expansion = mentions?.expansion(ofAssetOfSize: candidate.size, children: children) ?? candidate.size
        guard expansion <= limit else {
            return .failure(APIError(.unprocessableContent, "expansion_too_large",
                                     "an asset expands to more than \(limit) bytes (the event size limit) through the assets it references; nothing was stored"))
        }
        return .success(expansion)
    }

    /// The kind an upload is indexed with: `tree` when its bytes are one JSON object or
    /// array (so `rrtree:` references may name it), else `upload`.
    static func uploadKind(_ bytes: [UInt8]) -> AssetRecord.Kind {
        bytes.withUnsafeBytes { isJSONContainer($0) } ? .tree : .upload
    }

    static func isJSONContainer(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }),
              first == UInt8(ascii: "{") || first == UInt8(ascii: "[") else { return false }
        return (try? JSONBytes.validate(bytes, maxDepth: 512)) != nil
    }

    /// A kept `rrtree:` reference to `digest` must name JSON: a tree a reader cannot parse
    /// would make the recording unreadable for good. Uploads indexed before kinds were
    /// told apart (`upload`) are checked by their bytes.
    func requireTree(_ digest: SHA256Digest, record: AssetRecord?, tenant: String) async throws {
        guard let record, record.kind != .tree else { return }
        if record.kind == .upload {
            let bytes = try await state.assetCache.bytes(digest, likely: .gzip, from: state.assets)
            if bytes.withUnsafeBytes(Self.isJSONContainer) { return }
        }
        throw APIError(.unprocessableContent, "invalid_reference",
                       "rrtree:\(digest) names an asset that is not a JSON object or array; reference it as rrasset: or upload the tree's JSON; nothing was stored")
    }
}
