import Hummingbird
import NIOCore
import RRStoreCore
import Synchronization

/// Reads request bodies within a deadline. Without one, a client that sends its body at
/// a byte a second (or announces a length and sends nothing) holds its connection, its
/// share of memory and whatever the route took before reading, for as long as it likes.
/// At the deadline the connection is closed (the body can no longer be read, so no answer
/// could follow it anyway) and the route sees a 408.
func readBody(_ body: RequestBody, context: RRStoreRequestContext, deadline seconds: Double,
              _ consume: (ByteBuffer) async throws -> Void) async throws {
    let expired = ExpiryFlag()
    let timer = context.channel.map { channel in
        channel.eventLoop.scheduleTask(in: .milliseconds(Int64(max(0.001, min(seconds, 86_400)) * 1000))) {
            expired.set()
            channel.close(promise: nil)
        }
    }
    defer { timer?.cancel() }
    do {
        for try await piece in body {
            guard !expired.isSet else { throw bodyTimeout(seconds) }
            try await consume(piece)
        }
    } catch {
        throw expired.isSet ? bodyTimeout(seconds) : error
    }
    // A closed connection can end the body early without an error: never take that as
    // the whole body.
    guard !expired.isSet else { throw bodyTimeout(seconds) }
}

/// The whole body, at most `limit` bytes, charged to `memory` as it arrives.
func collectBody(_ request: Request, context: RRStoreRequestContext, limit: Int, deadline seconds: Double,
                 memory: MemoryReservation?) async throws -> ByteBuffer {
    if let length = request.headers[.contentLength].map({ HeaderValues.decimal($0) ?? .max }), length > limit {
        throw APIError(.contentTooLarge, "too_large", "the body has \(length) bytes; this request takes at most \(limit)")
    }
    var collected = ByteBuffer()
    try await readBody(request.body, context: context, deadline: seconds) { piece in
        guard collected.readableBytes + piece.readableBytes <= limit else {
            throw APIError(.contentTooLarge, "too_large", "the body is over \(limit) bytes, this request's limit")
        }
        try memory?.add(piece.readableBytes)
        var piece = piece
        collected.writeBuffer(&piece)
    }
    return collected
}

private func bodyTimeout(_ seconds: Double) -> APIError {
    APIError(.requestTimeout, "body_timeout", "the request body did not arrive within \(Int(seconds)) s")
}

private final class ExpiryFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
