import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// Open connections, against a cap. Past the cap a new connection is answered 503 with
/// `Retry-After` and closed at once: idle connections cost a file descriptor each, and a
/// process out of descriptors cannot even answer its health check. (Hummingbird's own
/// `MaximumAvailableConnections` stops accepting instead, which leaves clients hanging
/// in the kernel's queue with no answer.)
final class ConnectionCount: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    var current: Int { open.load(ordering: .relaxed) }

    func tryOpen() -> Bool {
        let now = open.wrappingAdd(1, ordering: .relaxed).newValue
        guard now <= limit else {
            open.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func close() { open.wrappingSubtract(1, ordering: .relaxed) }
}

/// HTTP/1.1 with a connection cap (see `ConnectionCount`) in front.
struct CappedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let connections: ConnectionCount

    static let refusal: String = {
        let body = #"{"error":{"code":"too_many_connections","message":"the server has as many open connections as it takes; retry shortly"}}"# + "\n"
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
    }()

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard connections.tryOpen() else {
            // No HTTP handlers are in the pipeline yet: the refusal goes out as raw bytes.
            // The channel is not active (registered) until the setup completes: a handler in
            // front of HTTP writes the refusal once it is, reads nothing, and closes.
            logger.warning("refused a connection: \(connections.limit) are open (--max-connections)")
            do {
                try channel.pipeline.syncOperations.addHandler(RefusingHandler(refusal: Self.refusal))
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
            return inner.setup(channel: channel, logger: logger)
        }
        let connections = self.connections
        channel.closeFuture.whenComplete { _ in connections.close() }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Answers a connection over the cap with a raw 503 as soon as it is active, and closes it.
private final class RefusingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let refusal: String
    private var sent = false

    init(refusal: String) { self.refusal = refusal }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}  // the request is not read

    private func refuse(_ context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        let channel = context.channel
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: refusal))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with an idle timeout (which also bounds how long a request head may take)
    /// and a connection cap.
    static func cappedHTTP1(_ configuration: HTTP1Channel.Configuration, connections: ConnectionCount) -> HTTPServerBuilder {
        .init { responder in
            CappedHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: configuration), connections: connections)
        }
    }
}
