import Hummingbird
import NIOCore
import RRStoreCore
import RRStoreStorage

/// `POST /assets/batch`: many small assets in one request (`AssetBatch` framing), so a
/// client uploads what the have-set says is missing in a few requests instead of one `PUT`
/// each. Every asset is re-hashed and judged by the same rules as a `PUT`, in order (a
/// tree may name an asset earlier in the batch); one that breaks a rule is refused alone
/// and the others are kept. The accepted ones are kept in one metadata transaction (staged
/// for packs) and indexed and linked in another. The answer lists each asset's outcome.
extension AssetRoutes {
    func batch(_ request: Request, _ context: RRStoreRequestContext) async throws -> Response {
        let limits = state.configuration.limits
        let tenant = context.tenant
        return try await MemoryReservation.with(state.requestMemory) { memory in
            let body = try await collectBody(request, context: context, limit: limits.maxBatchBytes,
                                             deadline: limits.bodyDeadlineSeconds, memory: memory)
            let bytes = Array(body.readableBytesView)
            let items = try bytes.withUnsafeBytes {
                try AssetBatch.parse($0, maxItems: limits.maxBatchAssets, maxItemBytes: min(limits.maxAssetBytes, Self.inMemoryUploadBytes))
            }
            return try await keep(items, of: bytes, tenant: tenant).response()
        }
    }

    private func keep(_ items: [AssetBatch.Item], of body: [UInt8], tenant: String) async throws -> JSONWriter {
        var outcomes = [Result<Int, APIError>?](repeating: nil, count: items.count)
        var candidates: [AssetAdmission.Candidate] = []
        var candidateItem: [Int] = []
        var firstIndex: [SHA256Digest: Int] = [:]
        for (index, item) in items.enumerated() {
            let bytes = body[item.range]
            guard SHA256Digest.hash(bytes) == item.digest else {
                outcomes[index] = .failure(APIError(.unprocessableContent, "digest_mismatch",
                                                    "the asset's bytes hash to \(SHA256Digest.hash(bytes)), not \(item.digest); it was not stored"))
                continue
            }
            // A digest sent twice is judged once; the repeat is answered like the first.
            guard firstIndex[item.digest] == nil else { continue }
            firstIndex[item.digest] = index
            var mentions = ReferenceMentions()
            bytes.withUnsafeBytes { mentions.feed($0) }
            candidates.append(.init(digest: item.digest, size: bytes.count, mentions: mentions))
            candidateItem.append(index)
        }
        let (held, judged) = try await AssetAdmission(state: state).admitEach(candidates, tenant: tenant)
        let now = ServerState.now()
        var toStore: [(digest: SHA256Digest, bytes: [UInt8])] = []
        var records: [AssetRecord] = []
        for (position, outcome) in judged.enumerated() {
            let index = candidateItem[position], item = items[index]
            outcomes[index] = outcome
            guard case .success(let expansion) = outcome else { continue }
            // Held and touched within the hour: proving the bytes is enough (as a PUT).
            if let record = held[item.digest], now - record.lastTouched < 3_600_000 { continue }
            let bytes = Array(body[item.range])
            toStore.append((item.digest, bytes))
            records.append(AssetRecord(digest: item.digest, size: bytes.count, mediaType: item.mediaType, kind: AssetAdmission.uploadKind(bytes),
                                       firstStored: now, lastTouched: now, expansion: expansion))
        }
        if !toStore.isEmpty {
            let assets = state.assets, packing = try await state.storeFormat.packs(), policy = state.configuration.pack, list = toStore
            // Bytes another tenant stored are written like new ones: the answer's timing must not tell.
            let created = try await withStoreDeadline("storing the batch") {
                try await assets.store(list, tenant: tenant, packing: packing, policy: policy, at: now)
            }
            let metadata = state.metadata, indexed = records
            try await withStoreDeadline("indexing the batch") { try await metadata.registerUploads(indexed, tenant: tenant) }
            state.metrics.assetsNew.increment(by: Int64(created.created))
            state.metrics.assetBytesNew.increment(by: Int64(created.bytes))
        }

        var writer = JSONWriter()
        writer.beginObject()
        writer.key("assets")
        writer.beginArray()
        for (index, item) in items.enumerated() {
            let outcome = outcomes[index] ?? firstIndex[item.digest].flatMap { outcomes[$0] }
            writer.beginObject()
            writer.field("digest", item.digest.description)
            switch outcome {
            case .success?:
                // 201 when this tenant did not hold the asset before (whoever else stored it).
                writer.field("status", held[item.digest] == nil ? 201 : 200)
            case .failure(let error)?:
                writer.field("status", Int(error.status.code))
                writer.key("error")
                writer.beginObject()
                writer.field("code", error.code)
                writer.field("message", error.message)
                writer.endObject()
            case nil:
                writer.field("status", 500)
            }
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer
    }
}
