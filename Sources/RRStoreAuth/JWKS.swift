import RRStoreCore

/// A JSON Web Key Set (RFC 7517), as Cognito publishes at
/// `https://cognito-idp.<region>.amazonaws.com/<pool id>/.well-known/jwks.json`.
/// RSA (2048 bits and more) and P-256 signing keys are kept; others (encryption keys,
/// other curves, symmetric keys) are skipped, and said so in `skipped`.
public struct JWKSet: Sendable {
    public var keys: [VerificationKey]
    public var skipped: [String]

    public init(json: [UInt8]) throws {
        guard case .array(let entries)? = (try? JSONValue.parse(json))?["keys"] else {
            throw AuthError(.invalidKey, "a JWKS is a JSON object with a \"keys\" array")
        }
        keys = []
        skipped = []
        for (index, entry) in entries.enumerated() {
            let name = entry["kid"]?.stringValue.map { "kid '\($0)'" } ?? "key \(index)"
            do {
                if let key = try Self.verificationKey(entry) { keys.append(key) } else { skipped.append("\(name): not a signing key rrstore uses") }
            } catch let error as AuthError {
                skipped.append("\(name): \(error.message)")
            }
        }
    }

    static func verificationKey(_ jwk: JSONValue) throws -> VerificationKey? {
        if let use = jwk["use"]?.stringValue, use != "sig" { return nil }
        let declared = jwk["alg"]?.stringValue
        func bytes(_ member: String) throws -> [UInt8] {
            guard let text = jwk[member]?.stringValue, let value = Base64URL.decode(text) else {
                throw AuthError(.invalidKey, "\"\(member)\" is missing or not base64url")
            }
            return value
        }
        let algorithm: JWTAlgorithm
        let key: OpenSSLKey
        switch jwk["kty"]?.stringValue {
        case "RSA":
            guard declared == nil || declared == "RS256" else { return nil }
            algorithm = .rs256
            key = try OpenSSLKey.rsa(modulus: try bytes("n").drop { $0 == 0 }.map { $0 }, exponent: try bytes("e"))
        case "EC":
            guard jwk["crv"]?.stringValue == "P-256", declared == nil || declared == "ES256" else { return nil }
            algorithm = .es256
            key = try OpenSSLKey.p256(x: try bytes("x"), y: try bytes("y"))
        default:
            return nil
        }
        return VerificationKey(id: jwk["kid"]?.stringValue, algorithm: algorithm, key: key)
    }
}
