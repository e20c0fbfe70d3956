import CCrypto
import RRStoreCore

/// An OpenSSL public (or, for tools and tests, private) key. Immutable once made, so it is
/// shared freely between threads (OpenSSL keys are safe to use concurrently for verifying).
public final class OpenSSLKey: @unchecked Sendable {
    public enum Kind: Sendable, Equatable { case rsa, p256 }

    let pointer: OpaquePointer
    public let kind: Kind

    init(_ pointer: OpaquePointer, kind: Kind) {
        self.pointer = pointer
        self.kind = kind
    }

    deinit { EVP_PKEY_free(pointer) }

    /// An RSA public key from a JWK's `n` and `e` (big-endian bytes).
    public static func rsa(modulus: [UInt8], exponent: [UInt8]) throws -> OpenSSLKey {
        guard modulus.count >= 256 else {
            throw AuthError(.invalidKey, "RSA keys of fewer than 2048 bits are not accepted (this one has \(modulus.count * 8))")
        }
        guard let key = rr_rsa_public_key(modulus, modulus.count, exponent, exponent.count) else {
            throw AuthError(.invalidKey, "OpenSSL rejected the RSA key")
        }
        return OpenSSLKey(key, kind: .rsa)
    }

    /// A P-256 public key from a JWK's `x` and `y` (32 bytes each).
    public static func p256(x: [UInt8], y: [UInt8]) throws -> OpenSSLKey {
        guard x.count == 32, y.count == 32 else { throw AuthError(.invalidKey, "P-256 coordinates are 32 bytes each") }
        let point = [0x04] + x + y
        guard let key = rr_p256_public_key(point, point.count) else {
            throw AuthError(.invalidKey, "OpenSSL rejected the P-256 key (not a point on the curve?)")
        }
        return OpenSSLKey(key, kind: .p256)
    }

    /// Whether `signature` (JWS form: PKCS#1 v1.5 for RSA, r || s for P-256) signs
    /// `message` with SHA-256.
    public func verifySHA256(_ message: [UInt8], signature: [UInt8]) -> Bool {
        switch kind {
        case .rsa:
            return rr_verify_sha256(pointer, message, message.count, signature, signature.count) == 1
        case .p256:
            guard signature.count == 64 else { return false }
            var der = [UInt8](repeating: 0, count: 80)
            let length = Int(rr_ecdsa_raw_to_der(signature, &der, Int32(der.count)))
            guard length > 0 else { return false }
            return rr_verify_sha256(pointer, message, message.count, der, length) == 1
        }
    }

    // MARK: Minting (tests and tools)

    /// A new private key.
    public static func generate(_ kind: Kind) throws -> OpenSSLKey {
        guard let key = kind == .rsa ? rr_generate_rsa(2048) : rr_generate_p256() else {
            throw AuthError(.invalidKey, "OpenSSL could not generate a key")
        }
        return OpenSSLKey(key, kind: kind)
    }

    /// Signs with SHA-256 (a private key); the JWS form of the signature.
    public func signSHA256(_ message: [UInt8]) throws -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 1024)
        let length = rr_sign_sha256(pointer, message, message.count, &signature, signature.count)
        guard length > 0 else { throw AuthError(.invalidKey, "OpenSSL could not sign (not a private key?)") }
        guard kind == .p256 else { return Array(signature.prefix(length)) }
        var raw = [UInt8](repeating: 0, count: 64)
        guard rr_ecdsa_der_to_raw(signature, length, &raw) == 1 else { throw AuthError(.invalidKey, "malformed ECDSA signature") }
        return raw
    }

    /// The public half as a JWK's members: `n`/`e` (RSA) or `x`/`y` (P-256), base64url.
    public func publicJWKMembers() throws -> [String: String] {
        switch kind {
        case .rsa:
            func parameter(_ name: String) throws -> [UInt8] {
                var out = [UInt8](repeating: 0, count: 1024)
                let length = Int(rr_key_bn_param(pointer, name, &out, Int32(out.count)))
                guard length > 0 else { throw AuthError(.invalidKey, "no RSA parameter \(name)") }
                return Array(out.prefix(length))
            }
            return ["kty": "RSA", "n": Base64URL.encode(try parameter("n")), "e": Base64URL.encode(try parameter("e"))]
        case .p256:
            var point = [UInt8](repeating: 0, count: 65)
            guard rr_ec_public_point(pointer, &point, point.count) == 65 else { throw AuthError(.invalidKey, "no EC public point") }
            return ["kty": "EC", "crv": "P-256", "x": Base64URL.encode(Array(point[1...32])), "y": Base64URL.encode(Array(point[33...64]))]
        }
    }
}

/// base64url without padding (RFC 7515 §2), strict: non-canonical text is rejected.
public enum Base64URL {
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        guard !text.contains(where: { $0 == "+" || $0 == "/" || $0 == "=" }) else { return nil }
        var standard = String(text).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        switch standard.utf8.count % 4 {
        case 2: standard += "=="
        case 3: standard += "="
        case 1: return nil
        default: break
        }
        return Base64.decodeCanonical(standard)
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        var text = Base64.encode(bytes)
        while text.hasSuffix("=") { text.removeLast() }
        return text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }
}

/// Why a token or key was refused. The code is for logs and metrics; clients get a plain 401.
public struct AuthError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let malformed = Code("malformed_token")
        public static let algorithm = Code("algorithm_not_allowed")
        public static let unknownKey = Code("unknown_key")
        public static let signature = Code("bad_signature")
        public static let expired = Code("expired")
        public static let notYetValid = Code("not_yet_valid")
        public static let issuer = Code("wrong_issuer")
        public static let audience = Code("wrong_audience")
        public static let tokenUse = Code("wrong_token_use")
        public static let subject = Code("no_subject")
        public static let invalidKey = Code("invalid_key")
        public static let unknownToken = Code("unknown_token")
        public static let configuration = Code("invalid_configuration")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
