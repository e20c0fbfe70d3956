import Foundation
import RRStoreCore

/// The signature algorithms rrstore accepts; which of them a deployment accepts is
/// configuration, never the token's choice.
public enum JWTAlgorithm: String, Sendable, CaseIterable {
    case rs256 = "RS256"
    case es256 = "ES256"
    case hs256 = "HS256"

    var keyKind: OpenSSLKey.Kind? {
        switch self {
        case .rs256: .rsa
        case .es256: .p256
        case .hs256: nil
        }
    }
}

/// A key from a JWKS: its id, and the algorithm it may be used with (from its `alg`, or
/// from its type when the JWK names none).
public struct VerificationKey: Sendable {
    public var id: String?
    public var algorithm: JWTAlgorithm
    public var key: OpenSSLKey

    public init(id: String?, algorithm: JWTAlgorithm, key: OpenSSLKey) {
        self.id = id
        self.algorithm = algorithm
        self.key = key
    }
}

/// What a token must say to be accepted.
public struct JWTPolicy: Sendable {
    /// Algorithms accepted at all (RS256 and ES256 need JWKS keys, HS256 the secret).
    public var algorithms: Set<JWTAlgorithm>
    /// The `iss` a token must carry (Cognito: `https://cognito-idp.<region>.amazonaws.com/<pool id>`).
    public var issuer: String?
    /// Accepted audiences: the token's `aud` (a string or an array), or Cognito access
    /// tokens' `client_id`, must be one of them. Empty: not checked.
    public var audiences: Set<String>
    /// If set, `token_use` must equal it (Cognito: `id` or `access`).
    public var tokenUse: String?
    /// Clock skew allowed for `exp` and `nbf`, in seconds.
    public var leewaySeconds: Int64
    /// Tokens without `exp` are refused unless this is set.
    public var requireExpiry: Bool

    public init(algorithms: Set<JWTAlgorithm>, issuer: String? = nil, audiences: Set<String> = [], tokenUse: String? = nil,
                leewaySeconds: Int64 = 60, requireExpiry: Bool = true) {
        self.algorithms = algorithms
        self.issuer = issuer
        self.audiences = audiences
        self.tokenUse = tokenUse
        self.leewaySeconds = leewaySeconds
        self.requireExpiry = requireExpiry
    }
}

/// A JWS compact token split and decoded, not yet trusted.
public struct UnverifiedJWT: Sendable {
    public var algorithm: String
    public var keyID: String?
    public var claims: [String: JSONValue]
    /// `header.payload`, the bytes the signature covers.
    public var signingInput: [UInt8]
    public var signature: [UInt8]

    public init(_ token: some StringProtocol) throws {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw AuthError(.malformed, "a JWT has three dot-separated parts, this has \(parts.count)") }
        guard token.utf8.count <= 16 << 10 else { throw AuthError(.malformed, "the token is longer than 16 KiB") }
        guard let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]) else {
            throw AuthError(.malformed, "a part of the token is not base64url")
        }
        guard case .object(let header)? = try? JSONValue.parse(headerBytes), case .string(let algorithm)? = header["alg"] else {
            throw AuthError(.malformed, "the header is not a JSON object with \"alg\"")
        }
        guard case .object(let claims)? = try? JSONValue.parse(payloadBytes) else {
            throw AuthError(.malformed, "the payload is not a JSON object")
        }
        if case .string(let type)? = header["typ"], !["JWT", "at+jwt", "application/jwt"].contains(type) {
            throw AuthError(.malformed, "typ '\(type)' is not a JWT")
        }
        guard header["crit"] == nil else { throw AuthError(.malformed, "critical header extensions are not supported") }
        self.algorithm = algorithm
        if case .string(let kid)? = header["kid"] { keyID = kid } else { keyID = nil }
        self.claims = claims
        signingInput = Array("\(parts[0]).\(parts[1])".utf8)
        self.signature = signature
    }
}

/// Verifies tokens: signature first (with a key the configuration allows for the token's
/// algorithm), then the claims. Returns the subject.
public struct JWTVerifier: Sendable {
    public var policy: JWTPolicy
    /// The HS256 secret, if HS256 is allowed.
    public var secret: [UInt8]?

    public init(policy: JWTPolicy, secret: [UInt8]? = nil) {
        self.policy = policy
        self.secret = secret
    }

    /// The token's algorithm, checked against the policy (before any key is looked up).
    public func algorithm(of token: UnverifiedJWT) throws -> JWTAlgorithm {
        guard let algorithm = JWTAlgorithm(rawValue: token.algorithm), policy.algorithms.contains(algorithm) else {
            throw AuthError(.algorithm, "algorithm '\(token.algorithm.prefix(20))' is not accepted here (accepted: \(policy.algorithms.map(\.rawValue).sorted().joined(separator: ", ")))")
        }
        return algorithm
    }

    /// Checks the signature with `keys` (the JWKS keys matching the token's `kid`, or all
    /// of them if it has none) and the claims at `now` (Unix seconds); the subject.
    public func verify(_ token: UnverifiedJWT, keys: [VerificationKey], now: Int64) throws -> String {
        let algorithm = try algorithm(of: token)
        switch algorithm {
        case .hs256:
            guard let secret else { throw AuthError(.algorithm, "HS256 is not configured") }
            let expected = HMACSHA256.authenticate(token.signingInput, key: secret)
            guard constantTimeEqual(expected, token.signature) else { throw AuthError(.signature, "the HS256 signature does not match") }
        case .rs256, .es256:
            // A key signs only with the algorithm it is for: an RSA key never checks an HS256
            // MAC (made with its public bytes as the secret), nor an EC key RS256.
            let candidates = keys.filter { $0.algorithm == algorithm && (token.keyID == nil || $0.id == token.keyID) }
            guard !candidates.isEmpty else {
                throw AuthError(.unknownKey, "no \(algorithm.rawValue) key\(token.keyID.map { " with kid '\($0.prefix(80))'" } ?? "") is known")
            }
            guard candidates.contains(where: { $0.key.verifySHA256(token.signingInput, signature: token.signature) }) else {
                throw AuthError(.signature, "the \(algorithm.rawValue) signature does not verify")
            }
        }
        return try checkClaims(token.claims, now: now)
    }

    /// A NumericDate claim (RFC 7519 §2: seconds, possibly fractional) as whole seconds.
    /// Claims are attacker-chosen numbers: a value outside Int64 (`1e300`) or not finite is
    /// malformed, never converted (`Int64(1e300)` traps).
    static func numericDate(_ value: JSONValue, _ name: String) throws -> Int64 {
        guard case .number(let seconds) = value else { throw AuthError(.malformed, "\(name) is not a number") }
        // 2^62 seconds is ~1.5e11 years: past it the claim is not a date.
        guard seconds.isFinite, abs(seconds) < 0x1p62 else { throw AuthError(.malformed, "\(name) is not a date (\(seconds))") }
        return Int64(seconds.rounded(.down))
    }

    /// The checks after the signature (exposed for the fuzz target and tests).
    public func checkClaims(_ claims: [String: JSONValue], now: Int64) throws -> String {
        let leeway = policy.leewaySeconds
        if let exp = claims["exp"] {
            let expires = try Self.numericDate(exp, "exp")
            guard now < expires.addingSaturated(leeway) else { throw AuthError(.expired, "the token expired at \(expires)") }
        } else if policy.requireExpiry {
            throw AuthError(.expired, "the token has no exp")
        }
        if let nbf = claims["nbf"] {
            let notBefore = try Self.numericDate(nbf, "nbf")
            guard now.addingSaturated(leeway) >= notBefore else { throw AuthError(.notYetValid, "the token is not valid before \(notBefore)") }
        }
        if let issuer = policy.issuer {
            guard case .string(let iss)? = claims["iss"], iss == issuer else { throw AuthError(.issuer, "the token's issuer is not \(issuer)") }
        }
        if !policy.audiences.isEmpty {
            var presented: [String] = []
            switch claims["aud"] {
            case .string(let aud)?: presented = [aud]
            case .array(let values)?: presented = values.compactMap { if case .string(let s) = $0 { s } else { nil } }
            default: break
            }
            // Cognito access tokens carry the app client in client_id instead of aud.
            if case .string(let client)? = claims["client_id"] { presented.append(client) }
            guard presented.contains(where: policy.audiences.contains) else {
                throw AuthError(.audience, "the token is not for this audience / client id")
            }
        }
        if let tokenUse = policy.tokenUse {
            guard case .string(let use)? = claims["token_use"], use == tokenUse else {
                throw AuthError(.tokenUse, "token_use must be '\(tokenUse)'")
            }
        }
        guard case .string(let subject)? = claims["sub"], !subject.isEmpty else { throw AuthError(.subject, "the token has no sub") }
        return subject
    }

    /// Mints a token (tools and tests): `claims` signed with `key` (RS256/ES256) or `secret` (HS256).
    public static func sign(claims: [String: JSONValue], algorithm: JWTAlgorithm, keyID: String? = nil,
                            key: OpenSSLKey? = nil, secret: [UInt8]? = nil) throws -> String {
        var header: [String: JSONValue] = ["alg": .string(algorithm.rawValue), "typ": .string("JWT")]
        if let keyID { header["kid"] = .string(keyID) }
        let input = Base64URL.encode(JSONValue.object(header).serialized()) + "." + Base64URL.encode(JSONValue.object(claims).serialized())
        let signature: [UInt8]
        switch algorithm {
        case .hs256:
            guard let secret else { throw AuthError(.configuration, "HS256 needs a secret") }
            signature = HMACSHA256.authenticate(Array(input.utf8), key: secret)
        case .rs256, .es256:
            guard let key else { throw AuthError(.configuration, "\(algorithm.rawValue) needs a private key") }
            signature = try key.signSHA256(Array(input.utf8))
        }
        return input + "." + Base64URL.encode(signature)
    }
}

extension Int64 {
    /// `self + other`, clamped to the type's range instead of trapping.
    func addingSaturated(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}
