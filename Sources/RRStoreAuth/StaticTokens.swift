import RRStoreCore

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
