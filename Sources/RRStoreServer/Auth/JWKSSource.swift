import Foundation
import Logging
import RRStoreAuth
import RRStoreCore
import RRStoreStorage
import RRStoreHTTP
import RRStoreIO

/// The signing keys of a JWKS file or URL, cached. Fetched on first use, again once they
/// are `maxAge` old, and again when a token names a `kid` not among them (key rotation) —
/// at most once per `minimumRefetch`, and one fetch at a time however many requests wait.
actor JWKSSource {
    enum Location: Sendable {
        case file(String)
        case url(String)
    }

    let location: Location
    let maxAge: Duration
    let minimumRefetch: Duration
    let logger: Logger
    private let transport = CurlTransport(connectTimeoutMilliseconds: 5000, stallSeconds: 10, maxIdleHandles: 2)
    private var keys: [VerificationKey] = []
    private var fetchedAt: ContinuousClock.Instant?
    private var lastAttempt: ContinuousClock.Instant?
    private var inFlight: Task<JWKSet, any Error>?
    private(set) var fetches = 0

    init(location: Location, maxAgeSeconds: Double, minimumRefetchSeconds: Double, logger: Logger) {
        self.location = location
        maxAge = .milliseconds(Int64(maxAgeSeconds * 1000))
        minimumRefetch = .milliseconds(Int64(minimumRefetchSeconds * 1000))
        self.logger = logger
    }

    static func isAllowedURL(_ url: String) -> Bool {
        if url.hasPrefix("https://") { return true }
        guard url.hasPrefix("http://") else { return false }
        let host = url.dropFirst("http://".count).prefix { $0 != "/" && $0 != "?" }
        let name = host.hasPrefix("[") ? String(host.prefix { $0 != "]" }.dropFirst()) : String(host.prefix { $0 != ":" })
        return name == "127.0.0.1" || name == "localhost" || name == "::1"
    }

    /// The keys a token with `kid` may be verified with.
    func keys(for kid: String?) async throws -> [VerificationKey] {
        let now = ContinuousClock.now
        let mayFetch = lastAttempt.map { now - $0 >= minimumRefetch } ?? true
        if mayFetch, fetchedAt.map({ now - $0 > maxAge }) ?? true {
            try await refresh()
        }
        var matching = keys.filter { kid == nil || $0.id == kid }
        if matching.isEmpty, kid != nil, lastAttempt.map({ ContinuousClock.now - $0 >= minimumRefetch }) ?? true {
            logger.info("JWKS: unknown kid '\(kid!.prefix(80))', fetching the key set again")
            try await refresh()
            matching = keys.filter { $0.id == kid }
        }
        return matching
    }

    /// Loads the key set now (start-up: a broken configuration shows at once).
    func load() async throws {
        try await refresh()
    }

    private func refresh() async throws {
        // Requests that arrive during a fetch wait for that one instead of starting theirs.
        if let inFlight {
            _ = try? await inFlight.value
            if keys.isEmpty { throw AuthError(.unknownKey, "the JWKS could not be loaded") }
            return
        }
        let task = Task { [location, transport] in try await Self.fetch(location, transport: transport) }
        inFlight = task
        lastAttempt = ContinuousClock.now
        defer { inFlight = nil }
        do {
            let set = try await task.value
            fetches += 1
            keys = set.keys
            fetchedAt = ContinuousClock.now
            for skipped in set.skipped { logger.debug("JWKS: skipped \(skipped)") }
        } catch {
            // Keep serving with the keys we had; a token needing a new one is refused.
            logger.error("JWKS: could not load the key set: \(error)")
            if keys.isEmpty { throw error }
        }
    }

    private static func fetch(_ location: Location, transport: CurlTransport) async throws -> JWKSet {
        let bytes: [UInt8]
        switch location {
        case .file(let path):
            bytes = try FileSystem.readAll(path)
        case .url(let url):
            let response = try await transport.send(CurlRequest(method: "GET", url: url, headers: [("Accept", "application/json")]))
            guard response.status == 200 else {
                throw AuthError(.invalidKey, "GET \(url) answered \(response.status)")
            }
            bytes = response.body
        }
        let set = try JWKSet(json: bytes)
        guard !set.keys.isEmpty else {
            throw AuthError(.invalidKey, "the JWKS holds no RS256/ES256 signing key (\(set.skipped.joined(separator: "; ")))")
        }
        return set
    }
}
