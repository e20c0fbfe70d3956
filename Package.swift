// swift-tools-version: 6.1
import Foundation
import PackageDescription

// The test suite pushes the whole corpus through the core many times; unoptimized, that
// runs ~10x slower. scripts/test.sh sets RRSTORE_OPTIMIZE_TESTS=1 so the core, the server
// and the server tests are optimized in its debug build. Without it (a package depending
// on rrstore's libraries, a plain `swift build`) no target carries unsafe flags.
let optimizedInDebug: [SwiftSetting] = ProcessInfo.processInfo.environment["RRSTORE_OPTIMIZE_TESTS"] == "1"
    ? [.unsafeFlags(["-O"], .when(configuration: .debug))] : []

let package = Package(
    name: "rrstore",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "RRStoreCore", targets: ["RRStoreCore"]),
        .library(name: "RRStoreStorage", targets: ["RRStoreStorage"]),
        .library(name: "RRStoreServer", targets: ["RRStoreServer"]),
        .library(name: "RRStoreClient", targets: ["RRStoreClient"]),
        .library(name: "RRStoreAuth", targets: ["RRStoreAuth"]),
        .executable(name: "rrstore", targets: ["rrstore"]),
        .executable(name: "rrstore-storage-bench", targets: ["StorageBench"]),
        .executable(name: "rrstore-fuzz", targets: ["RRStoreFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        // Default traits off: neither swift-configuration nor full Foundation is needed.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
    ],
    targets: [
        // System libraries the user chose: OpenSSL libcrypto (SHA-256, HMAC), zlib, libcurl.
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
        ),
        // Digests, base64, the JSON byte scanner, rewrite and rehydrate. No network, no files.
        .target(name: "RRStoreCore", dependencies: ["CCrypto", "CZlib", "CZstd"], swiftSettings: optimizedInDebug),
        // syncfs(2), which Swift's Glibc module does not export.
        .target(name: "CPosixShims"),
        // Files and blocking work: descriptors, durable writes, mapped event files, spool
        // files, and the queue that keeps blocking calls off Swift's cooperative threads.
        .target(name: "RRStoreIO", dependencies: ["RRStoreCore", "CPosixShims"]),
        // HTTP over libcurl (connections reused) and the one retry policy, for every client
        // rrstore has: S3, the service client, JWKS fetches.
        .target(name: "RRStoreHTTP", dependencies: ["RRStoreCore", "RRStoreIO", "CCurl"]),
        // Where bytes live: blob stores (files, S3), the asset layout over them, metadata stores.
        .target(
            name: "RRStoreStorage",
            dependencies: [
                "RRStoreCore", "RRStoreIO", "RRStoreHTTP",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Who a request is: JWT (RS256/ES256 through JWKS, HS256), static tokens. Pure: keys
        // and tokens in, a verified subject out; fetching a JWKS is the server's business.
        .target(name: "RRStoreAuth", dependencies: ["RRStoreCore", "CCrypto"]),
        // The HTTP service: routes, ingest and the flusher, metrics.
        .target(
            name: "RRStoreServer",
            dependencies: [
                "RRStoreCore", "RRStoreIO", "RRStoreHTTP", "RRStoreStorage", "RRStoreAuth",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["Viewer/files/LICENSE-rrweb-player"],
            // The viewer's pages and rrweb-player, compiled into the binary.
            resources: ["shell.html", "list.html", "player.html", "frame.html", "viewer.js", "frame.js", "viewer.css",
                        "rrweb-player.js", "rrweb-player.css"].map { .embedInCode("Viewer/files/" + $0) },
            swiftSettings: optimizedInDebug
        ),
        // What recorder programs and batch jobs use to talk to the service (libcurl): the
        // core and HTTP only, no storage (so no SQLite, PostgreSQL or NIO).
        .target(
            name: "RRStoreClient",
            dependencies: ["RRStoreCore", "RRStoreHTTP"]
        ),
        .executableTarget(
            name: "rrstore",
            dependencies: [
                "RRStoreCore", "RRStoreIO", "RRStoreHTTP", "RRStoreStorage", "RRStoreServer", "RRStoreClient", "RRStoreAuth",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Every parser of untrusted input as a libFuzzer target (scripts/fuzz.sh builds it
        // with -sanitize=fuzzer); built plainly, it replays inputs (the committed seeds).
        .executableTarget(
            name: "RRStoreFuzz",
            dependencies: ["RRStoreCore", "RRStoreAuth"],
            path: "Fuzz/RRStoreFuzz"
        ),
        .executableTarget(
            name: "StorageBench",
            dependencies: ["RRStoreCore", "RRStoreIO", "RRStoreStorage"],
            path: "benchmarks/StorageBench"
        ),
        // What the test targets share: the corpus, temporary directories, error bodies.
        .target(name: "RRStoreTestSupport", dependencies: ["RRStoreCore", "RRStoreIO", "RRStoreHTTP"], path: "Tests/RRStoreTestSupport"),
        .testTarget(
            name: "RRStoreCoreTests",
            dependencies: [
                "RRStoreCore", "CCurl", "RRStoreTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "RRStoreAuthTests",
            dependencies: ["RRStoreAuth", "RRStoreCore"]
        ),
        .testTarget(
            name: "RRStoreStorageTests",
            dependencies: ["RRStoreCore", "RRStoreIO", "RRStoreHTTP", "RRStoreStorage", "RRStoreTestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "RRStoreServerTests",
            dependencies: [
                "RRStoreCore", "RRStoreIO", "RRStoreHTTP", "RRStoreStorage", "RRStoreServer", "RRStoreClient", "RRStoreAuth",
                "RRStoreTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            // The corpus checks walk ~100 MB per pass; unoptimized they dominate the run.
            swiftSettings: optimizedInDebug
        ),
        .testTarget(
            name: "RRStoreCLITests",
            dependencies: ["RRStoreCore", "RRStoreIO", "RRStoreHTTP", "RRStoreStorage", "RRStoreClient", "RRStoreTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
