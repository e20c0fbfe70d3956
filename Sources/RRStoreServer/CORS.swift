import HTTPTypes
import Hummingbird

/// Which browser origins may call the API. `*` lets any page post events (without
/// credentials, as the CORS rules demand); listed origins may also send credentials.
///
/// Written here rather than using Hummingbird's `CORSMiddleware`, whose list of allowed
/// origins is variadic (fixed at compile time) and which leaves error responses bare.
struct CrossOriginMiddleware: RouterMiddleware {
    let anyOrigin: Bool
    let origins: Set<String>

    init?(origins: [String]) {
        guard !origins.isEmpty else { return nil }
        anyOrigin = origins.contains("*")
        self.origins = Set(origins.filter { $0 != "*" })
    }

    static let allowHeaders = "Accept, Authorization, Content-Type, Content-Encoding, Range, Idempotency-Key, RRStore-Rewritten"
    static let allowMethods = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
    static let exposeHeaders = "Link, Location, ETag, Content-Range, Content-Length"

    func handle(_ request: Request, context: RRStoreRequestContext,
                next: (Request, RRStoreRequestContext) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else {
            if request.method == .options {
                // What API Gateway's CORS answer gave the original test script (an OPTIONS
                // without an Origin): the methods and, for any origin, the CORS grant.
                var response = Response(status: .noContent, headers: [.allow: Self.allowMethods])
                if anyOrigin {
                    response.headers[.accessControlAllowOrigin] = "*"
                    response.headers[.accessControlAllowHeaders] = Self.allowHeaders
                    response.headers[.accessControlAllowMethods] = Self.allowMethods
                    response.headers[.accessControlMaxAge] = "600"
                }
                if !origins.isEmpty { response.headers.append(HTTPField(name: .vary, value: "Origin")) }
                return response
            }
            // Answers without an Origin are cached too (assets are `immutable`), and a page
            // may later load the same URL with CORS (an `<img crossorigin>`): with `*` they
            // carry it already; with listed origins they say the answer varies by Origin.
            var response = try await next(request, context)
            if anyOrigin {
                response.headers[.accessControlAllowOrigin] = "*"
                response.headers[.accessControlExposeHeaders] = Self.exposeHeaders
            }
            if !origins.isEmpty { response.headers.append(HTTPField(name: .vary, value: "Origin")) }
            return response
        }
        let listed = origins.contains(origin)
        let allowed = listed || anyOrigin
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var response = Response(status: .noContent)
            if allowed {
                decorate(&response.headers, origin: origin, listed: listed)
                response.headers[.accessControlAllowHeaders] = Self.allowHeaders
                response.headers[.accessControlAllowMethods] = Self.allowMethods
                response.headers[.accessControlMaxAge] = "600"
            }
            return response
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        if allowed { decorate(&response.headers, origin: origin, listed: listed) }
        if !listed && !origins.isEmpty { response.headers.append(HTTPField(name: .vary, value: "Origin")) }
        return response
    }

    private func decorate(_ headers: inout HTTPFields, origin: String, listed: Bool) {
        if listed {
            headers[.accessControlAllowOrigin] = origin
            headers[.accessControlAllowCredentials] = "true"
            headers.append(HTTPField(name: .vary, value: "Origin"))
        } else {
            headers[.accessControlAllowOrigin] = "*"
        }
        headers[.accessControlExposeHeaders] = Self.exposeHeaders
    }
}
