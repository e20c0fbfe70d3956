import ArgumentParser
import Foundation
import RRStoreServer

/// Who may call `rrstore serve` (see `AuthSettings`): flags first, then `RRSTORE_*`
/// variables.
struct AuthOptions: ParsableArguments {
    typealias S = AuthSettings
    @Option(help: S.table.help("auth")) var auth: String?
    @Option(help: S.table.help("jwks-url")) var jwksURL: String?
    @Option(help: S.table.help("jwks-file")) var jwksFile: String?
    @Option(help: S.table.help("jwt-hs256-secret")) var jwtHs256Secret: String?
    @Option(help: S.table.help("jwt-algorithms")) var jwtAlgorithms: String?
    @Option(help: S.table.help("jwt-issuer")) var jwtIssuer: String?
    @Option(help: S.table.help("jwt-audience")) var jwtAudience: [String] = []
    @Option(help: S.table.help("jwt-token-use")) var jwtTokenUse: String?
    @Option(help: S.table.help("jwt-leeway")) var jwtLeeway: String?
    @Option(help: S.table.help("tokens-file")) var tokensFile: String?
    @Option(help: S.table.help("url-signing-secret")) var urlSigningSecret: String?

    func resolve(environment: [String: String]) throws -> (AuthConfiguration, [String: SettingsTable<AuthConfiguration>.Origin]) {
        try S.table.resolve(flags: S.table.given(in: self), environment: environment)
    }
}
