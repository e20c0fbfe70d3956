import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Per-request state: the tenant every store call is scoped to.
public struct RRStoreRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by the authentication middleware; the local tenant while auth is off.
    public var tenant: String = ""
    /// The connection, so a route can close it when a body misses its deadline.
    public let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Bodies are read by the routes with their own limits.
    public var maxUploadSize: Int { 64 << 20 }
}

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// `1`: the events were rewritten by the client; their references stay as they are.
    static let rrstoreRewritten = HTTPField.Name("RRStore-Rewritten")!
    static let link = HTTPField.Name("Link")!
    /// Set by a proxy in front of the service; read only with `--trust-proxy`.
    static let xForwardedHost = HTTPField.Name("X-Forwarded-Host")!
    static let xForwardedProto = HTTPField.Name("X-Forwarded-Proto")!
}
