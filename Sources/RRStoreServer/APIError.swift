import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import RRStoreCore
import RRStoreStorage

/// An error answered as `{"error": {"code", "message"}}` with its HTTP status.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// Extra response headers (e.g. `WWW-Authenticate` on a 401).
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    /// A 5xx from deep in a store may quote file paths or endpoints: those stay in the log.
    func withoutServerDetails() -> APIError {
        guard message.contains("/") || message.contains("'") else { return self }
        var copy = self
        switch status.code {
        case 503: copy.message = "a store the server depends on is unavailable; retry later"
        case 507: break
        default: copy.message = "the server failed to answer this request; it has been logged"
        }
        return copy
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var body = Array(#"{"error":{"code":""#.utf8)
        Array(code.utf8).withUnsafeBytes { JSONStringCoding.appendEscaped($0, to: &body) }
        body += Array(#"","message":""#.utf8)
        Array(message.utf8).withUnsafeBytes { JSONStringCoding.appendEscaped($0, to: &body) }
        body += Array("\"}}\n".utf8)
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func notFound(_ what: String) -> APIError { APIError(.notFound, "not_found", what) }
    /// Out of request memory or ingest slots for now: try again in a moment.
    static func busy(_ message: String) -> APIError {
        APIError(.serviceUnavailable, "busy", message, headers: [.retryAfter: "1"])
    }
    /// A store did not answer within the request's deadline.
    static func storeTimeout(_ what: String, seconds: Double) -> APIError {
        APIError(.serviceUnavailable, "storage_timeout", "\(what) did not finish within \(Int(seconds)) s (the store is slow or unreachable); nothing was acknowledged, retry later",
                 headers: [.retryAfter: "5"])
    }
    static func badRequest(_ code: String, _ message: String) -> APIError { APIError(.badRequest, code, message) }

    /// The answer for an error from the core or the stores: bad input is a 4xx, the rest a 5xx.
    static func from(_ error: RRStoreError) -> APIError {
        let message = error.description
        switch error.code {
        case .invalidJSON, .truncatedInput, .nestingTooDeep, .invalidEvent, .invalidDigest, .invalidReference, .invalidGzip, .invalidKey, .invalidBatch:
            return APIError(.badRequest, error.code.rawValue, message)
        case .tooLarge:
            return APIError(.contentTooLarge, error.code.rawValue, message)
        case .corruptAsset:
            return APIError(.internalServerError, error.code.rawValue, "a stored asset or chunk this answer needs is damaged; it has been logged")
        case .recordingNotFound, .blobNotFound:
            return APIError(.notFound, "not_found", message)
        case .digestMismatch, .sizeMismatch:
            return APIError(.unprocessableContent, error.code.rawValue, message)
        case .invalidRange:
            return APIError(.rangeNotSatisfiable, error.code.rawValue, message)
        case .storageUnavailable, .database:
            return APIError(.serviceUnavailable, error.code.rawValue, message, headers: [.retryAfter: "5"])
        case .noSpace:
            // The message names server paths: the operator reads it in the log, not the client.
            return APIError(HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), error.code.rawValue, "the server's storage is full; nothing was stored; retry later")
        case .missingAsset:
            return APIError(.serviceUnavailable, error.code.rawValue, "a stored asset this answer needs is missing from the blob store; it has been logged, and uploading or posting the asset again repairs it",
                            headers: [.retryAfter: "5"])
        case .idempotencyConflict:
            return APIError(.unprocessableContent, error.code.rawValue, message)
        default:
            return APIError(.internalServerError, error.code.rawValue, message)
        }
    }
}

/// Turns every thrown error into a JSON error body: ours keep their status, the core's and
/// the stores' are mapped, Hummingbird's keep theirs, anything else is a logged 500.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as RRStoreError {
            let api = APIError.from(error)
            // 5xx messages are for the operator: logged in full, answered without server paths.
            if api.status.code >= 500 { context.logger.error("\(request.method) \(request.uri.path): \(error)") }
            throw api.status.code >= 500 ? api.withoutServerDetails() : api
        } catch let error as HTTPParserError {
            // A body the HTTP decoder could not frame (bad chunk sizes, ...): the client's fault.
            throw APIError(.badRequest, "malformed_request", "the request is not valid HTTP/1.1 (\(error)); the connection is closed")
        } catch let error as HTTPError {
            throw APIError(error.status, Self.code(for: error.status), error.body ?? error.status.reasonPhrase)
        } catch let error as any HTTPResponseError {
            // NIO's "too many bytes" and the like: keep the status, say what it was.
            let message = error.status == .contentTooLarge ? "the request body is over this server's limit" : "\(error)"
            throw APIError(error.status, Self.code(for: error.status), message)
        } catch {
            context.logger.error("\(request.method) \(request.uri.path): \(String(reflecting: error))")
            throw APIError(.internalServerError, "internal_error", "the server failed to answer this request; it has been logged")
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 413: "too_large"
        case 415: "unsupported_media_type"
        case 400..<500: "bad_request"
        default: "internal_error"
        }
    }
}
