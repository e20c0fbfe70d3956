import Foundation
import RRStoreCore
import RRStoreStorage
import Testing
import RRStoreTestSupport

/// Assets like the corpus's: tree JSON that repeats itself across assets, and PNG-like bytes.
enum PackSamples {
    static func tree(_ i: Int) -> [UInt8] {
        Array("{\"type\":2,\"tagName\":\"div\",\"attributes\":{\"class\":\"card card-\(i)\"},\"childNodes\":[\(String(repeating: "{\"type\":3,\"textContent\":\"item \(i) of the list\"},", count: 40 + i % 7))null]}".utf8)
    }

    static func image(_ i: Int, size: Int = 20_000) -> [UInt8] {
        var generator = SplitMix64(seed: UInt64(i) + 1)
        return [0x89, 0x50, 0x4E, 0x47] + (0..<size).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    }

}

@Suite struct PackBuilderTests {
    @Test func blocksHoldEveryAssetAndTheTrailerListsThem() throws {
        var policy = PackPolicy()
        policy.blockBytes = 8 << 10
        var builder = PackBuilder(id: "p1", policy: policy)
        var assets: [(SHA256Digest, [UInt8], Bool)] = []
        for i in 0..<60 { assets.append((SHA256Digest.hash(PackSamples.tree(i)), PackSamples.tree(i), true)) }
        for i in 0..<3 { assets.append((SHA256Digest.hash(PackSamples.image(i)), PackSamples.image(i), false)) }
        for (digest, bytes, compressible) in assets { try builder.add(digest, bytes, compressible: compressible) }
        try builder.add(assets[0].0, assets[0].1, compressible: true)  // a repeat is packed once
        let (pack, entries) = try builder.finish()
        #expect(entries.count == assets.count)
        let raw = assets.reduce(0) { $0 + $1.1.count }
        let treeBlocks = Set(entries.filter { $0.blockEncoding == .zstd }.map(\.blockOffset))
        #expect(treeBlocks.count > 1 && treeBlocks.count < 60, "trees share blocks of about blockBytes")
        #expect(entries.filter { $0.blockEncoding == .identity }.count == 3, "random image bytes stay as they are")
        #expect(pack.count < raw / 2, "the repeated tree JSON compresses together")
        for (digest, bytes, _) in assets {
            let entry = try #require(entries.first { $0.digest == digest })
            let stored = Array(pack[entry.blockOffset..<(entry.blockOffset + entry.blockLength)])
            let block = entry.blockEncoding == .zstd ? try Zstd.decompress(stored) : stored
            #expect(Array(block[entry.offset..<(entry.offset + entry.length)]) == bytes)
            // Read amplification: a shared block decodes to at most blockBytes.
            let shared = entries.filter { $0.blockOffset == entry.blockOffset }.count > 1
            #expect(!shared || block.count <= policy.blockBytes, "a shared block of \(block.count) bytes")
        }
        // The trailer lists the same entries.
        let length = try PackTrailer.trailerLength(lastEight: Array(pack.suffix(8)), packSize: pack.count, pack: "p1")
        let trailer = Array(pack[(pack.count - 8 - length)..<(pack.count - 8)])
        #expect(try PackTrailer.entries(trailer: trailer, packSize: pack.count, pack: "p1") == entries)
    }

    @Test func aDamagedTrailerIsRefusedNotTrusted() throws {
        var builder = PackBuilder(id: "p2", policy: PackPolicy())
        try builder.add(SHA256Digest.hash(PackSamples.tree(1)), PackSamples.tree(1), compressible: true)
        let (pack, _) = try builder.finish()
        let tail = Array(pack.suffix(8))
        var wrongMagic = tail
        wrongMagic[7] ^= 1
        #expect(throws: RRStoreError.self) { try PackTrailer.trailerLength(lastEight: wrongMagic, packSize: pack.count, pack: "p2") }
        var huge = tail
        huge[0] = 0x7F
        #expect(throws: RRStoreError.self) { try PackTrailer.trailerLength(lastEight: huge, packSize: pack.count, pack: "p2") }
        #expect(throws: RRStoreError.self) { try PackTrailer.trailerLength(lastEight: [1, 2], packSize: 2, pack: "p2") }
        let length = try PackTrailer.trailerLength(lastEight: tail, packSize: pack.count, pack: "p2")
        var trailer = Array(pack[(pack.count - 8 - length)..<(pack.count - 8)])
        trailer[trailer.count / 2] ^= 0x40
        #expect(throws: RRStoreError.self) { try PackTrailer.entries(trailer: trailer, packSize: pack.count, pack: "p2") }
        // A well-formed trailer naming bytes past the blocks is refused too.
        let lying = try Zstd.compress(Array("\(String(repeating: "ab", count: 32)) 0 999999 identity 0 10\n".utf8))
        #expect(throws: RRStoreError.self) { try PackTrailer.entries(trailer: lying, packSize: 100 + lying.count + 8, pack: "p2") }
    }
}

/// What every pair of stores must do with packs: run against the filesystem + SQLite and
/// against S3 (moto) + PostgreSQL.
struct PackConformance {
    let blobs: any BlobStore
    let metadata: any MetadataStore
    let tenant: String

    var policy: PackPolicy {
        var policy = PackPolicy()
        policy.blockBytes = 16 << 10
        policy.level = 3
        return policy
    }

    func run() async throws {
        try await stagedAssetsArePackedAndReadBack()
        try await twoPackersOnTheSameAssetsLoseNothing()
        try await aFlippedByteNamesThePack()
        try await looseAssetsAreStillRead()
    }

    func stage(_ assets: [[UInt8]], tenant: String? = nil, at time: Int64 = 1) async throws -> (count: Int, bytes: Int) {
        try await metadata.stageAssets(assets.map { StagedAsset(digest: SHA256Digest.hash($0), tenant: tenant ?? self.tenant, bytes: $0, stagedAt: time) })
    }

    func stagedAssetsArePackedAndReadBack() async throws {
        let assets = (0..<40).map { PackSamples.tree($0) + Array(tenant.utf8) } + (0..<4).map { PackSamples.image($0) + Array(tenant.utf8) }
        let stored = StoredAssets(blobs: blobs, index: metadata)
        #expect(try await stage(assets) == (assets.count, assets.reduce(0) { $0 + $1.count }))
        #expect(try await stage(Array(assets.prefix(3))).count == 3, "written again all the same (the work must not tell)")
        #expect(try await metadata.stagedAssets(tenant: tenant, maxBytes: 1 << 30).count == assets.count, "staged once")
        let digest = SHA256Digest.hash(assets[0])
        #expect(try await metadata.assetLocation(digest) == .staged(assets[0]))
        #expect(try await stored.bytes(digest, likely: .gzip) == assets[0], "a staged asset is read before it is packed")
        let due = try await metadata.stagedTenants(minBytes: 1 << 30, oldestBefore: 1, limit: 1000)
        #expect(due.contains { $0.tenant == tenant && $0.count == assets.count }, "due by age")
        #expect(try await !metadata.stagedTenants(minBytes: 1 << 30, oldestBefore: 0, limit: 1000).contains { $0.tenant == tenant })
        #expect(try await metadata.stagedAssets(tenant: tenant, maxBytes: 1).count == 1, "at least one")
        let all = try await metadata.stagedAssets(tenant: tenant, maxBytes: 1 << 30)
        #expect(all.count == assets.count && all.allSatisfy { Set(assets).contains($0.bytes) })
        let two = try await metadata.stagedAssets(tenant: tenant, maxBytes: all[0].bytes.count + 1)
        #expect(two.map(\.digest) == all.prefix(2).map(\.digest), "as many as start within maxBytes, in order: the first and the one that crosses")

        let report = try await Packer(blobs: blobs, index: metadata, policy: policy).pack(tenant: tenant)
        #expect(report.packs == 1 && report.assets == assets.count)
        let imageBytes = assets.suffix(4).reduce(0) { $0 + $1.count }
        #expect(report.storedBytes < imageBytes + (report.rawBytes - imageBytes) / 2, "the trees compress together")
        #expect(try await metadata.stagedAssets(tenant: tenant, maxBytes: 1 << 30).isEmpty, "packing drops the staged copies")
        for asset in assets {
            guard case .packed(let entry) = try await metadata.assetLocation(SHA256Digest.hash(asset)) else {
                Issue.record("not packed")
                continue
            }
            #expect(try await blobs.head(try BlobKey.pack(entry.pack)) != nil)
            #expect(try await stored.bytes(entry.digest, likely: .identity) == asset)
        }
        _ = try await stage(Array(assets.prefix(2)))
        let again = try await metadata.stagedAssets(tenant: tenant, maxBytes: 1 << 30)
        #expect(again.count == 2 && again.allSatisfy(\.packed), "staged again, marked packed")
        let repack = try await Packer(blobs: blobs, index: metadata, policy: policy).pack(tenant: tenant)
        #expect(repack.packs == 0, "no new pack for bytes a pack holds")
        #expect(try await metadata.stagedAssets(tenant: tenant, maxBytes: 1 << 30).isEmpty, "the staged copies are dropped")
        let packs = try await metadata.packs().filter { $0.tenant == tenant }
        #expect(packs.count == 1 && packs[0].entryCount == assets.count)
        #expect(try await metadata.packEntries(pack: packs[0].id).count == assets.count)
    }

    func twoPackersOnTheSameAssetsLoseNothing() async throws {
        let rival = tenant + "-rival"
        let assets = (0..<30).map { PackSamples.tree($0 + 100) + Array(rival.utf8) }
        _ = try await stage(assets, tenant: rival)
        let staged = try await metadata.stagedAssets(tenant: rival, maxBytes: 1 << 30)
        #expect(staged.count == assets.count)
        // Both instances read the same staged rows and pack them at once.
        let a = Packer(blobs: blobs, index: metadata, policy: policy), b = Packer(blobs: blobs, index: metadata, policy: policy)
        async let first = a.writePack(staged, tenant: rival)
        async let second = b.writePack(staged, tenant: rival)
        let reports = try await [first, second]
        #expect(reports.allSatisfy { $0.assets == assets.count }, "both packs hold every asset")
        var packsNamed = Set<String>()
        let stored = StoredAssets(blobs: blobs, index: metadata)
        for asset in assets {
            guard case .packed(let entry) = try await metadata.assetLocation(SHA256Digest.hash(asset)) else {
                Issue.record("not packed")
                continue
            }
            packsNamed.insert(entry.pack)
            #expect(try await stored.bytes(entry.digest, likely: .identity) == asset)
        }
        #expect(!packsNamed.isEmpty && packsNamed.count <= 2)
        #expect(try await metadata.stagedAssets(tenant: rival, maxBytes: 1 << 30).isEmpty)
    }

    func aFlippedByteNamesThePack() async throws {
        let damaged = tenant + "-damaged"
        let tree = PackSamples.tree(7) + Array(damaged.utf8), image = PackSamples.image(9) + Array(damaged.utf8)
        _ = try await stage([tree, image], tenant: damaged)
        _ = try await Packer(blobs: blobs, index: metadata, policy: policy).pack(tenant: damaged)
        for asset in [tree, image] {
            guard case .packed(let entry) = try await metadata.assetLocation(SHA256Digest.hash(asset)) else {
                Issue.record("not packed")
                return
            }
            let key = try BlobKey.pack(entry.pack)
            var pack = try await blobs.get(key)
            pack[entry.blockOffset + entry.blockLength / 2] ^= 0x20
            _ = try await blobs.put(key, bytes: pack, expecting: nil, createOnly: false)
            // A fresh cache: the damaged block must be read again.
            let stored = StoredAssets(blobs: blobs, index: metadata)
            do {
                _ = try await stored.bytes(entry.digest, likely: .identity)
                Issue.record("a damaged \(entry.blockEncoding) block was read as good bytes")
            } catch let error as RRStoreError {
                #expect(error.code == .corruptAsset)
                #expect(error.message.contains(entry.pack), "the error names the pack: \(error.message)")
            }
        }
    }

    func looseAssetsAreStillRead() async throws {
        let bytes = PackSamples.tree(3) + Array("loose \(tenant)".utf8)
        let digest = SHA256Digest.hash(bytes)
        _ = try await AssetBlobs(blobs).store(digest, bytes: bytes)
        #expect(try await metadata.assetLocation(digest) == nil)
        #expect(try await StoredAssets(blobs: blobs, index: metadata).bytes(digest, likely: .identity) == bytes)
        let absent = SHA256Digest.hash(Array("absent \(tenant)".utf8))
        await #expect(throws: RRStoreError.self) { try await StoredAssets(blobs: blobs, index: metadata).bytes(absent, likely: .gzip) }
    }
}

@Suite struct PackConformanceTests {
    @Test func filesAndSQLite() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrstore-packs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let blobs = try FileBlobStore(root: directory + "/blobs")
        let metadata = try await SQLiteMetadataStore(path: directory + "/metadata.sqlite")
        try await PackConformance(blobs: blobs, metadata: metadata, tenant: "t1").run()
    }

    @Test(.enabled(if: S3TestServers.available && PostgresTestServer.available, "needs moto and PostgreSQL: run scripts/test.sh"))
    func s3AndPostgres() async throws {
        let endpoint = try S3TestServers.require(S3TestServers.endpoint, "RRSTORE_TEST_S3_ENDPOINT")
        guard let url = PostgresTestServer.url else {
            throw RRStoreError(.invalidConfiguration, "RRSTORE_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh")
        }
        let blobs = try await S3TestServers.store(endpoint: endpoint)
        let metadata = try PostgresMetadataStore(url: url)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await metadata.run() }
            try await metadata.migrate()
            try await PackConformance(blobs: blobs, metadata: metadata, tenant: "pg-\(UUID().uuidString.prefix(8))").run()
            group.cancelAll()
        }
    }
}
