/// Signed asset URLs: with auth on, a browser loading `<img src>` from a URL-mode read
/// carries no bearer token, so each link carries its tenant, an expiry and an HMAC-SHA256
/// over both and the digest, made with the server's key:
///
///     /assets/sha256:<hex>?tenant=<tenant>&expires=<unix seconds>&signature=<64 hex>
///
/// Expiries are rounded up to whole windows, so the same asset keeps the same URL (and
/// stays cacheable) for a window at a time.
public struct AssetURLSigner: Sendable, Equatable {
    public var key: [UInt8]
    public var tenant: String
    public var expires: Int64

    public init(key: [UInt8], tenant: String, expires: Int64) {
        self.key = key
        self.tenant = tenant
        self.expires = expires
    }

    /// A signer whose links stay valid for one to two `window`s after `now`.
    public init(key: [UInt8], tenant: String, now: Int64, window: Int64) {
        self.init(key: key, tenant: tenant, expires: (now / window + 2) * window)
    }

    /// The query to append to the digest's URL (tenant ids need no escaping).
    public func query(for digest: SHA256Digest) -> String {
        "?tenant=\(tenant)&expires=\(expires)&signature=\(Self.signature(key: key, tenant: tenant, expires: expires, digest: digest).hexString)"
    }

    public static func signature(key: [UInt8], tenant: String, expires: Int64, digest: SHA256Digest) -> [UInt8] {
        HMACSHA256.authenticate("rrstore-asset-url\n\(tenant)\n\(expires)\n\(digest)", key: key)
    }

    /// Whether the query's signature is good and unexpired at `now`.
    public static func verify(key: [UInt8], tenant: String, expires: Int64, signatureHex: String, digest: SHA256Digest, now: Int64) -> Bool {
        guard now < expires else { return false }
        return constantTimeEqual(Array(signature(key: key, tenant: tenant, expires: expires, digest: digest).hexString.utf8), Array(signatureHex.utf8))
    }
}
