import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The ports the service is bound to, learnt when each listener starts (with `--port 0`
/// and `--viewer-frame-port 0` they are picked by the system): the viewer's pages must
/// name the replay frame's origin, and the frame must name the viewer's.
final class ViewerPorts: Sendable {
    private let ports = Mutex<(api: Int?, frame: Int?)>((nil, nil))
    var api: Int? { ports.withLock { $0.api } }
    var frame: Int? { ports.withLock { $0.frame } }
    func setAPI(_ port: Int) { ports.withLock { $0.api = port } }
    func setFrame(_ port: Int) { ports.withLock { $0.frame = port } }
}

/// The replay frame's own listener. A recorded page is hostile input (rrweb 1.x's rebuild
/// has a published XSS, CVE-2025-45806), so it is replayed in a frame that shares nothing
/// with the viewer: another origin (this port), sandboxed (no forms, popups, modals or top
/// navigation), a policy that forbids every connection, and nothing but rrweb-player to
/// serve. Another origin is the isolation the issue's "sandboxed without
/// allow-same-origin" stands for: rrweb 1.x's Replayer rebuilds into an iframe of its own
/// and reads its `contentDocument`, which a frame without allow-same-origin cannot (each
/// nested document gets a new opaque origin), so the sandbox keeps allow-same-origin and
/// the origin is made distinct by the port instead. The token lives in the viewer's
/// origin's sessionStorage; this origin has no storage, no cookies of ours, and no API.
enum ViewerFrameServer {
    static let files: Set<String> = ["frame.html", "frame.js", "rrweb-player.js", "rrweb-player.css", "viewer.css"]

    static func build(state: ServerState) -> some Service {
        let router = Router(context: BasicRequestContext.self)
        router.get("/viewer/:file") { request, context in
            let name = context.parameters.get("file") ?? ""
            guard files.contains(name), let file = ViewerRoutes.files[name] else {
                return Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"],
                                body: ResponseBody(byteBuffer: ByteBuffer(string: "not found\n")))
            }
            var headers = ViewerRoutes.commonHeaders(file)
            if name == "frame.html" {
                let viewer = ViewerOrigins.viewer(forFrameRequest: request, state: state) ?? "'none'"
                let assets = ViewerOrigins.assetSource(viewer: viewer)
                headers[.contentSecurityPolicy] = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                    + "img-src \(assets) data: blob:; font-src \(assets) data:; media-src \(assets) data: blob:; "
                    + "connect-src 'none'; frame-src 'self'; child-src 'self'; frame-ancestors \(viewer); base-uri 'none'; form-action 'none'"
            } else {
                headers[.contentSecurityPolicy] = "default-src 'none'; frame-ancestors 'none'"
            }
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: file.bytes)))
        }
        let limits = state.configuration.limits
        let http1 = HTTP1Channel.Configuration(idleTimeout: .milliseconds(Int64(limits.idleTimeoutSeconds * 1000)))
        return Application(
            router: router,
            // Its connections count against the service's one cap (`--max-connections`).
            server: .cappedHTTP1(http1, connections: state.connections),
            configuration: .init(address: .hostname(state.configuration.host, port: state.configuration.viewer.framePort),
                                 serverName: "rrstore-replay"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                state.viewerPorts.setFrame(port)
                state.logger.notice("rrstore replay frame on http://\(state.configuration.host):\(port) (the viewer's recorded pages run there)")
            },
            logger: state.logger
        )
    }
}

/// The viewer's and the replay frame's origins, as a browser names them.
public enum ViewerOrigins {
    /// The frame's origin for a viewer page: `--viewer-frame-url`, or the scheme and host
    /// the page was asked for with the frame's port.
    static func frame(forViewerRequest request: Request, state: ServerState) -> String? {
        let configured = state.configuration.viewer.frameURL
        if !configured.isEmpty { return origin(of: configured) }
        guard let port = state.viewerPorts.frame, let (scheme, host) = schemeAndHost(request, state.configuration) else { return nil }
        return "\(scheme)://\(host):\(port)"
    }

    /// The viewer's origin for the frame (the one allowed to embed it, and whose asset
    /// links it may load): `--public-url`, or the frame request's scheme and host with the
    /// API's port.
    static func viewer(forFrameRequest request: Request, state: ServerState) -> String? {
        let configured = state.configuration.publicBaseURL
        if !configured.isEmpty { return origin(of: configured) }
        guard let port = state.viewerPorts.api, let (scheme, host) = schemeAndHost(request, state.configuration) else { return nil }
        return "\(scheme)://\(host):\(port)"
    }

    /// Where a replay's images, fonts and media may come from: the service's asset links
    /// (`<base>/assets/`), so a recorded page cannot make the browser request any other
    /// path of the API, nor any other site.
    static func assetSource(viewer: String) -> String {
        viewer == "'none'" ? "'none'" : (viewer.hasSuffix("/") ? String(viewer.dropLast()) : viewer) + "/assets/"
    }

    /// `scheme://authority` of a URL that `--public-url` or `--viewer-frame-url` gave,
    /// without a path (an origin is what CSP and postMessage compare).
    public static func origin(of url: String) -> String? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https", AssetLinkBase.isAuthority(String(authority)) else { return nil }
        return "\(scheme)://\(authority)"
    }

    /// The scheme and host name (without the port) a request came in on.
    private static func schemeAndHost(_ request: Request, _ configuration: ServerConfiguration) -> (String, String)? {
        guard let base = try? AssetLinkBase.resolve(request, configuration), let origin = origin(of: base),
              let schemeEnd = origin.range(of: "://") else { return nil }
        let scheme = String(origin[..<schemeEnd.lowerBound])
        var authority = origin[schemeEnd.upperBound...]
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            authority = authority[...close]
        } else if let colon = authority.lastIndex(of: ":") {
            authority = authority[..<colon]
        }
        return (scheme, String(authority))
    }
}
