import Foundation
import RRStoreAuth
import RRStoreCore
import Testing

/// Tokens are checked with the keys and rules the configuration pins; every way a token
/// can be wrong is refused with its own reason.
@Suite struct JWTTests {
    static let rsa = try! OpenSSLKey.generate(.rsa)
    static let ec = try! OpenSSLKey.generate(.p256)
    static let otherRSA = try! OpenSSLKey.generate(.rsa)
    static let now: Int64 = 1_800_000_000

    /// The public halves as a JWKS document, parsed back as a server would.
    static func keySet(_ keys: [(String, OpenSSLKey)]) throws -> [VerificationKey] {
        let entries = try keys.map { kid, key -> JSONValue in
            var members = try key.publicJWKMembers().mapValues { JSONValue.string($0) }
            members["kid"] = .string(kid)
            members["use"] = .string("sig")
            return .object(members)
        }
        return try JWKSet(json: JSONValue.object(["keys": .array(entries)]).serialized()).keys
    }

    static var claims: [String: JSONValue] {
        ["sub": .string("user-1"), "iss": .string("https://issuer.example"), "aud": .string("app"),
         "exp": .number(Double(now + 300)), "iat": .number(Double(now)), "token_use": .string("id")]
    }

    let verifier = JWTVerifier(policy: JWTPolicy(algorithms: [.rs256, .es256], issuer: "https://issuer.example",
                                                 audiences: ["app"], tokenUse: "id", leewaySeconds: 30))

    func verify(_ token: String, with verifier: JWTVerifier? = nil, now: Int64 = JWTTests.now) throws -> String {
        let keys = try Self.keySet([("r1", Self.rsa), ("e1", Self.ec)])
        return try (verifier ?? self.verifier).verify(try UnverifiedJWT(token), keys: keys, now: now)
    }

    func refusal(_ token: String, with verifier: JWTVerifier? = nil, now: Int64 = JWTTests.now) -> AuthError.Code? {
        do {
            _ = try verify(token, with: verifier, now: now)
            return nil
        } catch let error as AuthError {
            return error.code
        } catch {
            return AuthError.Code("unexpected \(error)")
        }
    }

    @Test func goodRS256AndES256TokensGiveTheSubject() throws {
        let rs = try JWTVerifier.sign(claims: Self.claims, algorithm: .rs256, keyID: "r1", key: Self.rsa)
        let es = try JWTVerifier.sign(claims: Self.claims, algorithm: .es256, keyID: "e1", key: Self.ec)
        #expect(try verify(rs) == "user-1")
        #expect(try verify(es) == "user-1")
        let noKid = try JWTVerifier.sign(claims: Self.claims, algorithm: .rs256, key: Self.rsa)
        #expect(try verify(noKid) == "user-1", "without a kid every key of the algorithm is tried")
    }

    @Test func everyKindOfBadTokenIsRefusedForItsReason() throws {
        func signed(_ change: (inout [String: JSONValue]) -> Void, algorithm: JWTAlgorithm = .rs256, kid: String = "r1",
                    key: OpenSSLKey = JWTTests.rsa) throws -> String {
            var claims = Self.claims
            change(&claims)
            return try JWTVerifier.sign(claims: claims, algorithm: algorithm, keyID: kid, key: key)
        }
        #expect(refusal(try signed({ _ in }, key: Self.otherRSA)) == .signature, "forged: signed by another key under a known kid")
        #expect(refusal(try signed({ _ in }, kid: "nope")) == .unknownKey)
        #expect(refusal(try signed({ _ in }, algorithm: .es256, kid: "r1", key: Self.ec)) == .unknownKey, "an RSA kid never checks ES256")
        #expect(refusal(try signed({ $0["exp"] = .number(Double(Self.now - 31)) })) == .expired)
        #expect(refusal(try signed({ $0["exp"] = .number(Double(Self.now - 10)) })) == nil, "within the leeway")
        #expect(refusal(try signed({ $0["exp"] = nil })) == .expired, "exp is required")
        #expect(refusal(try signed({ $0["nbf"] = .number(Double(Self.now + 31)) })) == .notYetValid)
        #expect(refusal(try signed({ $0["iss"] = .string("https://evil.example") })) == .issuer)
        #expect(refusal(try signed({ $0["aud"] = .string("other-app") })) == .audience)
        #expect(refusal(try signed({ $0["aud"] = .array([.string("x"), .string("app")]) })) == nil, "aud arrays")
        #expect(refusal(try signed({ $0["aud"] = nil; $0["client_id"] = .string("app") })) == nil, "Cognito access tokens: client_id")
        #expect(refusal(try signed({ $0["token_use"] = .string("access") })) == .tokenUse)
        #expect(refusal(try signed({ $0["sub"] = nil })) == .subject)

        // alg none: an unsigned token.
        let header = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
        let payload = Base64URL.encode(JSONValue.object(Self.claims).serialized())
        #expect(refusal("\(header).\(payload).") == .algorithm)
        #expect(refusal("\(header).\(payload)") == .malformed)

        // HS/RS confusion: HS256 "signed" with the RSA public key as the secret.
        let publicBytes = Array(try Self.rsa.publicJWKMembers()["n"]!.utf8)
        let confused = try JWTVerifier.sign(claims: Self.claims, algorithm: .hs256, keyID: "r1", secret: publicBytes)
        #expect(refusal(confused) == .algorithm, "HS256 is not accepted where RS256 is pinned")
        let both = JWTVerifier(policy: JWTPolicy(algorithms: [.rs256, .hs256], issuer: "https://issuer.example", audiences: ["app"]),
                               secret: Array("the real shared secret, 32 bytes!".utf8))
        #expect(refusal(confused, with: both) == .signature, "with HS256 allowed, only the configured secret signs")

        // Tampering with a good token's payload breaks its signature.
        let good = try signed { _ in }
        let parts = good.split(separator: ".")
        var tampered = Self.claims
        tampered["sub"] = .string("admin")
        #expect(refusal("\(parts[0]).\(Base64URL.encode(JSONValue.object(tampered).serialized())).\(parts[2])") == .signature)
        #expect(refusal("not a token") == .malformed)
        #expect(refusal("a.b.c") == .malformed)
        #expect(refusal("\(parts[0]).\(parts[1]).\(parts[2])=") == .malformed, "padding is not base64url")
    }

    @Test func hs256WithTheSecret() throws {
        let secret = Array("0123456789abcdef0123456789abcdef".utf8)
        let verifier = JWTVerifier(policy: JWTPolicy(algorithms: [.hs256]), secret: secret)
        let token = try JWTVerifier.sign(claims: Self.claims, algorithm: .hs256, secret: secret)
        #expect(try verify(token, with: verifier) == "user-1")
        let wrong = try JWTVerifier.sign(claims: Self.claims, algorithm: .hs256, secret: Array("another secret of enough length!!".utf8))
        #expect(refusal(wrong, with: verifier) == .signature)
        let rs = try JWTVerifier.sign(claims: Self.claims, algorithm: .rs256, keyID: "r1", key: Self.rsa)
        #expect(refusal(rs, with: verifier) == .algorithm, "RS256 is not accepted where HS256 is pinned")
    }

    @Test func jwksSkipsWhatItCannotUse() throws {
        let json = #"""
        {"keys": [
          {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"},
          {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB", "kid": "enc"},
          {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "tiny"},
          {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"},
          {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "bad-point"}
        ]}
        """#
        let set = try JWKSet(json: Array(json.utf8))
        #expect(set.keys.isEmpty)
        #expect(set.skipped.count == 5)
        #expect(throws: AuthError.self) { try JWKSet(json: Array("[]".utf8)) }
        let good = try Self.keySet([("r1", Self.rsa), ("e1", Self.ec)])
        #expect(good.map(\.algorithm) == [.rs256, .es256] && good.map(\.id) == ["r1", "e1"])
    }

    @Test func base64URLIsStrict() {
        #expect(Base64URL.decode("AQAB") == [1, 0, 1])
        #expect(Base64URL.decode("_-8") == [0xFF, 0xEF])
        #expect(Base64URL.encode([0xFF, 0xEF]) == "_-8")
        #expect(Base64URL.decode("AQAB=") == nil)
        #expect(Base64URL.decode("+/8") == nil)
        #expect(Base64URL.decode("_-9") == nil, "non-zero trailing bits")
        #expect(Base64URL.decode("A") == nil)
    }
}

@Suite struct StaticTokensTests {
    @Test func tokensMapToTenantsAndAreKeptHashed() throws {
        let hashed = SHA256Digest.hash(Array("second-token-0123456789".utf8))
        let file = """
            # tenant token
            acme   first-token-0123456789
            globex \(hashed)   # stored hashed

            """
        let tokens = try StaticTokens(fileContents: file)
        #expect(tokens.count == 2)
        #expect(tokens.tenant(for: "first-token-0123456789") == "acme")
        #expect(tokens.tenant(for: "second-token-0123456789") == "globex")
        #expect(tokens.tenant(for: "\(hashed)") == nil, "the hash itself is not the token")
        #expect(tokens.tenant(for: "first-token-012345678") == nil)
        #expect(tokens.tenantNames == ["acme", "globex"])
        #expect(throws: AuthError.self) { try StaticTokens(fileContents: "acme short") }
        #expect(throws: AuthError.self) { try StaticTokens(fileContents: "acme") }
        #expect(throws: AuthError.self) { try StaticTokens(fileContents: "a tok-0123456789abcdef\nb tok-0123456789abcdef") }
        #expect(throws: AuthError.self) { try StaticTokens(fileContents: "a sha256:XYZ") }
    }
}
