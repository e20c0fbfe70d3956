import ArgumentParser
import Foundation
import RRStoreAuth
import RRStoreServer

/// Who may call `rrstore serve`: flags first, then `RRSTORE_*` environment variables.
struct AuthOptions: ParsableArguments {
    @Option(help: "none (local use only), jwt, or token (env RRSTORE_AUTH; default none).")
    var auth: String?

    @Option(help: "JWT: JWKS URL, e.g. https://cognito-idp.<region>.amazonaws.com/<pool id>/.well-known/jwks.json (env RRSTORE_JWKS_URL).")
    var jwksURL: String?

    @Option(help: "JWT: JWKS file, instead of a URL (env RRSTORE_JWKS_FILE).")
    var jwksFile: String?

    @Option(help: "JWT: HS256 shared secret, at least 32 bytes (env RRSTORE_JWT_HS256_SECRET; prefer the variable).")
    var jwtHs256Secret: String?

    @Option(help: "JWT: accepted algorithms, comma-separated, of RS256, ES256, HS256 (env RRSTORE_JWT_ALGORITHMS; default: RS256,ES256 with a JWKS, HS256 with a secret).")
    var jwtAlgorithms: String?

    @Option(help: "JWT: required iss (env RRSTORE_JWT_ISSUER).")
    var jwtIssuer: String?

    @Option(help: "JWT: accepted aud or Cognito client_id, repeatable (env RRSTORE_JWT_AUDIENCE, comma-separated).")
    var jwtAudience: [String] = []

    @Option(help: "JWT: required token_use, id or access for Cognito (env RRSTORE_JWT_TOKEN_USE).")
    var jwtTokenUse: String?

    @Option(help: "JWT: clock skew allowed for exp/nbf in seconds (env RRSTORE_JWT_LEEWAY; default 60).")
    var jwtLeeway: Int?

    @Option(help: "Static tokens: file of 'tenant token' or 'tenant sha256:<hex>' lines (env RRSTORE_TOKENS_FILE).")
    var tokensFile: String?

    @Option(help: "Key that signs asset URLs in assets=url reads; give every instance the same (env RRSTORE_URL_SIGNING_SECRET; default: random per process).")
    var urlSigningSecret: String?

    func resolve(environment: [String: String]) throws -> AuthConfiguration {
        var configuration = AuthConfiguration()
        let mode = environment.setting(auth, or: "RRSTORE_AUTH") ?? "none"
        guard let parsed = AuthConfiguration.Mode(rawValue: mode) else { throw ValidationError("--auth must be none, jwt or token, not '\(mode)'") }
        configuration.mode = parsed
        configuration.jwksURL = environment.setting(jwksURL, or: "RRSTORE_JWKS_URL")
        configuration.jwksFile = environment.setting(jwksFile, or: "RRSTORE_JWKS_FILE")
        configuration.hs256Secret = environment.setting(jwtHs256Secret, or: "RRSTORE_JWT_HS256_SECRET").map { Array($0.utf8) }
        if let list = environment.setting(jwtAlgorithms, or: "RRSTORE_JWT_ALGORITHMS") {
            configuration.algorithms = Set(try list.split(separator: ",").map { name in
                let trimmed = name.trimmingCharacters(in: .whitespaces).uppercased()
                guard let algorithm = JWTAlgorithm(rawValue: trimmed) else {
                    throw ValidationError("--jwt-algorithms: '\(trimmed)' is not one of RS256, ES256, HS256")
                }
                return algorithm
            })
        }
        configuration.issuer = environment.setting(jwtIssuer, or: "RRSTORE_JWT_ISSUER")
        let audiences = jwtAudience.isEmpty ? (environment["RRSTORE_JWT_AUDIENCE"] ?? "").split(separator: ",").map(String.init) : jwtAudience
        configuration.audiences = Set(audiences.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        configuration.tokenUse = environment.setting(jwtTokenUse, or: "RRSTORE_JWT_TOKEN_USE")
        if let leeway = environment.setting(jwtLeeway.map(String.init), or: "RRSTORE_JWT_LEEWAY") {
            guard let seconds = Int64(leeway), seconds >= 0 else { throw ValidationError("--jwt-leeway '\(leeway)' is not a number of seconds") }
            configuration.leewaySeconds = seconds
        }
        configuration.tokensFile = environment.setting(tokensFile, or: "RRSTORE_TOKENS_FILE")
        configuration.urlSigningKey = environment.setting(urlSigningSecret, or: "RRSTORE_URL_SIGNING_SECRET").map { Array($0.utf8) }
        return configuration
    }
}
