import Testing
@testable import RRStoreAuth

/// Finding: `exp`/`nbf` outside Int64 (1e300, 9.3e18) trapped in `Int64(_:)`.
@Suite struct NumericDateTests {
    @Test func hugeOrOddDatesAreMalformedNotFatal() throws {
        let verifier = JWTVerifier(policy: JWTPolicy(algorithms: [.hs256], issuer: nil, audiences: [], tokenUse: nil, leewaySeconds: 60),
                                   secret: Array("secret".utf8))
        for value in [1e300, -1e300, 9.3e18, -9.3e18, Double.infinity, 0x1p62] {
            for claim in ["exp", "nbf"] {
                var claims: [String: JSONValue] = ["sub": .string("u"), "exp": .number(2_000_000_000)]
                claims[claim] = .number(value)
                #expect(throws: AuthError.self, "\(claim)=\(value)") { try verifier.checkClaims(claims, now: 1_800_000_000) }
            }
        }
        // Ordinary dates still work, leeway included, at the edges of Int64 arithmetic.
        #expect(try verifier.checkClaims(["sub": .string("u"), "exp": .number(1_800_000_030)], now: 1_800_000_000) == "u")
        #expect(throws: AuthError.self) { try verifier.checkClaims(["sub": .string("u"), "exp": .number(2e18)], now: .max) }
        #expect(throws: AuthError.self) { try verifier.checkClaims(["sub": .string("u"), "exp": .number(2e9), "nbf": .number(-4e18)], now: .min) }
        #expect(Int64.max.addingSaturated(60) == .max && Int64.min.addingSaturated(-1) == .min)
    }
}
