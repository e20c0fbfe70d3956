import Foundation
import Hummingbird
import RRStoreCore
import RRStoreStorage

/// Which form a read answers in: `?format=rrstore|original`, else the service's
/// `apiCompat`. `original` is what the replaced system's viewer parses: events as JSON lines
/// of `{"sessionId", "rrwebEvent", "sequence"}`, the listing as DynamoDB's
/// `{"Items": [{"sessionId": {"S"}, "createdAt": {"N"}, "screenshot": {"S": <data URL>}}]}`.
typealias ReadForm = ServerConfiguration.APICompat

extension ServerConfiguration.APICompat {
    static func from(_ request: Request, _ configuration: ServerConfiguration) throws -> Self {
        guard let text = request.uri.queryParameters["format"].map(String.init) else { return configuration.apiCompat }
        guard let form = Self(rawValue: text) else {
            throw APIError.badRequest("invalid_format", "format must be rrstore or original, not '\(text.prefix(40))'")
        }
        return form
    }
}

extension RecordingRoutes {
    /// The listing as the original system's DynamoDB scan answered it, screenshots inline
    /// as data URLs (its viewer shows them as thumbnails).
    func originalListing(_ records: ArraySlice<RecordingRecord>) async throws -> Response {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("Items")
        writer.beginArray()
        for record in records {
            writer.beginObject()
            writer.key("sessionId"); writer.beginObject(); writer.field("S", record.id); writer.endObject()
            writer.key("createdAt"); writer.beginObject(); writer.field("N", String(record.createdAt)); writer.endObject()
            if let digest = record.screenshot {
                let bytes = try await state.assetCache.bytes(digest, likely: .identity, from: state.assets)
                let type = record.screenshotType ?? "image/png"
                writer.key("screenshot"); writer.beginObject(); writer.field("S", "data:\(type);base64,\(Base64.encode(bytes))"); writer.endObject()
            }
            writer.endObject()
        }
        writer.endArray()
        writer.field("Count", records.count)
        writer.endObject()
        return writer.response(headers: [:])
    }
}
