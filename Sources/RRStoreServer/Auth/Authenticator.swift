import Foundation
import HTTPTypes
import Hummingbird
import Logging
import RRStoreAuth
import RRStoreCore
import RRStoreStorage
import Synchronization
import RRStoreIO

/// Turns a request's `Authorization: Bearer` token into its tenant: the JWT's `sub`, or
/// the tenant a static token maps to. With auth off, the local tenant.
final class Authenticator: Sendable {
    let configuration: AuthConfiguration
    let localTenant: String
    private let verifier: JWTVerifier
    private let jwks: JWKSSource?
    private let tokens = Mutex<StaticTokens?>(nil)
    private let urlSigningKey: [UInt8]
    let metrics: ServerMetrics

    init(configuration: AuthConfiguration, localTenant: String, metrics: ServerMetrics, logger: Logger) {
        self.configuration = configuration
        self.localTenant = localTenant
        self.metrics = metrics
        var generator = SystemRandomNumberGenerator()
        urlSigningKey = configuration.urlSigningKey ?? (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        verifier = JWTVerifier(policy: JWTPolicy(algorithms: configuration.effectiveAlgorithms, issuer: configuration.issuer,
                                                 audiences: configuration.audiences, tokenUse: configuration.tokenUse,
                                                 leewaySeconds: configuration.leewaySeconds),
                               secret: configuration.hs256Secret)
        let location: JWKSSource.Location? = configuration.jwksURL.map { .url($0) } ?? configuration.jwksFile.map { .file($0) }
        jwks = configuration.mode == .jwt ? location.map {
            JWKSSource(location: $0, maxAgeSeconds: configuration.jwksMaxAgeSeconds,
                       minimumRefetchSeconds: configuration.jwksMinimumRefetchSeconds, logger: logger)
        } : nil
    }

    /// Checks the configuration and loads what it names (tokens file, JWKS): a mistake
    /// stops the server at start, not at the first request.
    func prepare() async throws {
        try configuration.validate()
        switch configuration.mode {
        case .none:
            return
        case .token:
            let path = configuration.tokensFile!
            let text = String(decoding: try FileSystem.readAll(path), as: UTF8.self)
            let loaded = try StaticTokens(fileContents: text)
            guard loaded.count > 0 else { throw AuthError(.configuration, "the tokens file \(path) holds no token") }
            for tenant in loaded.tenantNames where !Identifier.isValid(Substring(tenant)) {
                throw AuthError(.configuration, "tenant '\(tenant)' in \(path) is not 1 to 128 of A-Z a-z 0-9 . _ -")
            }
            tokens.withLock { $0 = loaded }
        case .jwt:
            try await jwks?.load()
        }
    }

    /// The tenant of the request, or a 401.
    func tenant(for request: Request) async throws -> String {
        if configuration.mode == .none { return localTenant }
        guard let header = request.headers[.authorization] else {
            throw Self.unauthorized("missing_token", "this server needs 'Authorization: Bearer <token>'", invalid: false)
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Self.unauthorized("missing_token", "the Authorization header must be 'Bearer <token>'", invalid: true)
        }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        do {
            switch configuration.mode {
            case .none:
                return localTenant
            case .token:
                guard let tenant = tokens.withLock({ $0?.tenant(for: token) }) else {
                    throw AuthError(.unknownToken, "this token is not known")
                }
                return tenant
            case .jwt:
                let unverified = try UnverifiedJWT(token)
                let algorithm = try verifier.algorithm(of: unverified)
                var keys: [VerificationKey] = []
                if algorithm != .hs256, let jwks {
                    do {
                        keys = try await jwks.keys(for: unverified.keyID)
                    } catch let error as AuthError {
                        throw error
                    } catch {
                        throw APIError(.serviceUnavailable, "keys_unavailable", "the identity provider's signing keys cannot be loaded now; retry later")
                    }
                }
                let subject = try verifier.verify(unverified, keys: keys, now: ServerState.now() / 1000)
                return Self.tenant(forSubject: subject)
            }
        } catch let error as AuthError {
            metrics.authFailures(error.code.rawValue).increment()
            throw Self.unauthorized(error.code.rawValue, "the token was refused: \(error.message)", invalid: true)
        }
    }

    /// What signs the asset URLs of a URL-mode read for `tenant`; nil with auth off (the
    /// plain URLs work then).
    func assetURLSigner(tenant: String) -> AssetURLSigner? {
        guard configuration.mode != .none else { return nil }
        return AssetURLSigner(key: urlSigningKey, tenant: tenant, now: ServerState.now() / 1000, window: configuration.assetURLWindowSeconds)
    }

    /// The tenant a signed asset URL speaks for, if `request` is a GET or HEAD of an asset
    /// with a `signature` query; a 401 if that signature is bad or expired.
    func tenant(forSignedAssetRequest request: Request) throws -> String? {
        guard request.method == .get || request.method == .head, request.uri.path.hasPrefix("/assets/sha256:") else { return nil }
        let query = request.uri.queryParameters
        guard let signature = query["signature"].map(String.init) else { return nil }
        let path = request.uri.path.dropFirst("/assets/".count)
        guard let tenant = query["tenant"].map(String.init), let expires = query["expires"].flatMap({ Int64(String($0)) }),
              let digest = SHA256Digest(parsing: path.removingPercentEncoding ?? String(path)),
              AssetURLSigner.verify(key: urlSigningKey, tenant: tenant, expires: expires, signatureHex: signature, digest: digest,
                                    now: ServerState.now() / 1000) else {
            metrics.authFailures("bad_url_signature").increment()
            throw Self.unauthorized("bad_url_signature", "this asset URL's signature is wrong or expired; read the recording again for fresh URLs", invalid: true)
        }
        return tenant
    }

    /// A JWT subject as a tenant id: itself when it is a valid id (Cognito's are UUIDs),
    /// otherwise `sub-` and a hash of it (ids end up in storage keys).
    static func tenant(forSubject subject: String) -> String {
        if Identifier.isValid(Substring(subject)) && !subject.hasPrefix("sub-") { return subject }
        return "sub-" + SHA256Digest.hash(Array(subject.utf8)).hex.prefix(40)
    }

    static func unauthorized(_ code: String, _ message: String, invalid: Bool) -> APIError {
        APIError(.unauthorized, code, message,
                 headers: [.wwwAuthenticate: invalid ? #"Bearer realm="rrstore", error="invalid_token""# : #"Bearer realm="rrstore""#])
    }
}

/// Sets the request's tenant, or answers 401. Health checks and metrics stay open (for load
/// balancers and scrapers, which carry no tokens), and so do CORS preflights.
struct AuthMiddleware: RouterMiddleware {
    let authenticator: Authenticator

    func handle(_ request: Request, context: RRStoreRequestContext,
                next: (Request, RRStoreRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        let path = request.uri.path
        if path == "/healthz" || path == "/readyz" || path == "/metrics" || request.method == .options
            || ViewerRoutes.isViewerPath(path) {
            context.tenant = authenticator.localTenant
        } else if authenticator.configuration.mode != .none, let tenant = try authenticator.tenant(forSignedAssetRequest: request) {
            context.tenant = tenant
        } else {
            context.tenant = try await authenticator.tenant(for: request)
        }
        return try await next(request, context)
    }
}
