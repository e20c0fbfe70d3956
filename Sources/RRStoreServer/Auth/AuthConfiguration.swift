import RRStoreAuth
import RRStoreCore

/// Who may call the service, and as which tenant. `none` is for local use only: every
/// request is the one local tenant.
public struct AuthConfiguration: Sendable {
    public enum Mode: String, Sendable, CaseIterable { case none, jwt, token }

    public var mode: Mode = .none
    /// JWT: signing keys from a JWKS file, or an https URL (fetched, cached, and fetched
    /// again when a token names an unknown `kid`).
    public var jwksFile: String?
    public var jwksURL: String?
    /// JWT: the HS256 shared secret.
    public var hs256Secret: [UInt8]?
    /// JWT: the algorithms accepted; nil means RS256 + ES256 with a JWKS, HS256 with a secret.
    public var algorithms: Set<JWTAlgorithm>?
    public var issuer: String?
    public var audiences: Set<String> = []
    public var tokenUse: String?
    public var leewaySeconds: Int64 = 60
    /// A fetched JWKS is used at most this long before it is fetched again.
    public var jwksMaxAgeSeconds = 3600.0
    /// An unknown `kid` triggers a fetch at most this often (a flood of forged kids must not
    /// become a flood of requests to the identity provider).
    public var jwksMinimumRefetchSeconds = 10.0
    /// Static tokens: the file mapping tokens (or their SHA-256) to tenants.
    public var tokensFile: String?
    /// The key that signs asset URLs in `assets=url` reads (browsers fetch those without a
    /// token). Instances behind one load balancer need the same key; nil: a random key
    /// per process.
    public var urlSigningKey: [UInt8]?
    /// Signed asset URLs stay valid for one to two of these windows.
    public var assetURLWindowSeconds: Int64 = 86_400

    public init() {}

    /// The algorithms in force: configured, or derived from the keys given.
    public var effectiveAlgorithms: Set<JWTAlgorithm> {
        if let algorithms { return algorithms }
        var derived: Set<JWTAlgorithm> = []
        if jwksFile != nil || jwksURL != nil { derived.formUnion([.rs256, .es256]) }
        if hs256Secret != nil { derived.insert(.hs256) }
        return derived
    }

    /// Checks that the mode has what it needs; the message says which flag is missing.
    public func validate() throws {
        if let key = urlSigningKey, key.count < 32 {
            throw AuthError(.configuration, "the URL signing secret needs at least 32 bytes (it has \(key.count))")
        }
        switch mode {
        case .none:
            return
        case .token:
            guard tokensFile != nil else { throw AuthError(.configuration, "--auth token needs --tokens-file (or RRSTORE_TOKENS_FILE)") }
        case .jwt:
            guard jwksFile != nil || jwksURL != nil || hs256Secret != nil else {
                throw AuthError(.configuration, "--auth jwt needs --jwks-url, --jwks-file or --jwt-hs256-secret")
            }
            guard jwksFile == nil || jwksURL == nil else { throw AuthError(.configuration, "give --jwks-url or --jwks-file, not both") }
            let algorithms = effectiveAlgorithms
            guard !algorithms.isEmpty else { throw AuthError(.configuration, "--jwt-algorithms names no algorithm") }
            if algorithms.contains(.hs256) && hs256Secret == nil {
                throw AuthError(.configuration, "HS256 is allowed but --jwt-hs256-secret is not set")
            }
            if !algorithms.isDisjoint(with: [.rs256, .es256]) && jwksFile == nil && jwksURL == nil {
                throw AuthError(.configuration, "RS256/ES256 are allowed but no --jwks-url or --jwks-file is set")
            }
            if let secret = hs256Secret, secret.count < 32 {
                throw AuthError(.configuration, "the HS256 secret needs at least 32 bytes (it has \(secret.count))")
            }
            if let url = jwksURL, !JWKSSource.isAllowedURL(url) {
                throw AuthError(.configuration, "--jwks-url must be https:// (plain http only to a loopback address): \(url)")
            }
        }
    }
}
