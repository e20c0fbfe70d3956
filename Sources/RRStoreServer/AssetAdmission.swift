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

    /// The expansion of an uploaded asset of `size` bytes with `mentions`, or a 422 saying
    /// which rule it breaks. `own` is the asset's own digest (a mention of itself is inert).
    func checkUpload(_ own: SHA256Digest, size: Int, mentions: ReferenceMentions, tenant: String) async throws -> Int {
        var mentions = mentions
        mentions.removeMentions(of: own)
        guard !mentions.counts.isEmpty else { return size }
        let named = Array(mentions.digests)
        let held = try await state.metadata.linkedAssets(tenant: tenant, among: named)
        let unknown = mentions.digests.subtracting(held.keys).sorted()
        if !unknown.isEmpty {
            throw APIError(.unprocessableContent, "unknown_assets",
                           "this asset references \(unknown.count) asset(s) this tenant has not uploaded, e.g. \(unknown[0]); upload those first; nothing was stored")
        }
        let expansion = mentions.expansion(ofAssetOfSize: size, children: held.mapValues(\.expansion))
        let limit = state.configuration.limits.maxEventBytes
        guard expansion <= limit else {
            throw APIError(.unprocessableContent, "expansion_too_large",
                           "this asset expands to more than \(limit) bytes (the event size limit) through the assets it references; nothing was stored")
        }
        return expansion
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
