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

/// `Authorization: Bearer` tokens from a file, each mapped to a tenant. The file holds one
/// `tenant token` pair a line (`#` starts a comment); the token may be written as
/// `sha256:<hex>` of itself, so the file need not hold secrets. Only the hashes are kept in
/// memory, and a presented token is hashed before it is looked up.
public struct StaticTokens: Sendable {
    private var tenants: [SHA256Digest: String]

    public var count: Int { tenants.count }
    /// The tenants named in the file.
    public var tenantNames: Set<String> { Set(tenants.values) }

    public init(fileContents: String) throws {
        tenants = [:]
        for (number, line) in fileContents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count == 2 else {
                throw AuthError(.configuration, "tokens file line \(number + 1): expected 'tenant token' (or 'tenant sha256:<hex>')")
            }
            let tenant = String(fields[0]), token = String(fields[1])
            let digest: SHA256Digest
            if token.hasPrefix("sha256:") {
                guard let parsed = SHA256Digest(parsing: token) else {
                    throw AuthError(.configuration, "tokens file line \(number + 1): sha256:<64 lowercase hex> expected")
                }
                digest = parsed
            } else {
                guard token.utf8.count >= 16 else {
                    throw AuthError(.configuration, "tokens file line \(number + 1): tokens need at least 16 characters")
                }
                digest = SHA256Digest.hash(Array(token.utf8))
            }
            guard tenants[digest] == nil else { throw AuthError(.configuration, "tokens file line \(number + 1): the same token twice") }
            tenants[digest] = tenant
        }
    }

    /// The tenant of a presented token, or nil.
    public func tenant(for token: some StringProtocol) -> String? {
        tenants[SHA256Digest.hash(Array(token.utf8))]
    }
}
