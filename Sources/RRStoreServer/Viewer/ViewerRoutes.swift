import HTTPTypes
import Hummingbird
import NIOCore

/// The viewer (`/viewer/`): a list of the tenant's recordings and a player page, static
/// files built into the binary (`PackageResources`, no build step, no network), with
/// rrweb-player 0.7.14 committed beside its MIT licence. The pages need no token to load;
/// the data they fetch does. The replay itself runs on another origin
/// (`ViewerFrameServer`); every page gets a strict Content-Security-Policy.
struct ViewerRoutes {
    let state: ServerState

    struct File {
        let bytes: [UInt8]
        let type: String
    }

    static let files: [String: File] = [
        "list": File(bytes: composePage(title: "recordings", name: "list", main: PackageResources.list_html), type: "text/html; charset=utf-8"),
        "player": File(bytes: composePage(title: "replay", name: "player", main: PackageResources.player_html), type: "text/html; charset=utf-8"),
        "frame.html": File(bytes: PackageResources.frame_html, type: "text/html; charset=utf-8"),
        "viewer.js": File(bytes: PackageResources.viewer_js, type: "text/javascript; charset=utf-8"),
        "frame.js": File(bytes: PackageResources.frame_js, type: "text/javascript; charset=utf-8"),
        "viewer.css": File(bytes: PackageResources.viewer_css, type: "text/css; charset=utf-8"),
        "rrweb-player.js": File(bytes: PackageResources.rrweb_player_js, type: "text/javascript; charset=utf-8"),
        "rrweb-player.css": File(bytes: PackageResources.rrweb_player_css, type: "text/css; charset=utf-8"),
        "favicon.svg": File(bytes: Array(favicon.utf8), type: "image/svg+xml"),
    ]
    /// A viewer page: the shell every page shares, with the page's own title, name (what
    /// viewer.js goes by) and main part.
    static func composePage(title: String, name: String, main: [UInt8]) -> [UInt8] {
        let shell = String(decoding: PackageResources.shell_html, as: UTF8.self)
        return Array(shell.replacing("{{title}}", with: title).replacing("{{page}}", with: name)
            .replacing("{{main}}", with: String(decoding: main, as: UTF8.self)).utf8)
    }

    /// What the viewer's origin serves (the frame's files are served by the frame's origin only).
    static let pageFiles: Set<String> = ["viewer.js", "viewer.css", "favicon.svg"]
    static let favicon = ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#c33"/></svg>"##
    /// Where the player page names the replay frame's origin.
    static let framePlaceholder = "{{frame-origin}}"

    /// Paths the auth middleware lets through without a token (the pages themselves).
    static func isViewerPath(_ path: String) -> Bool {
        path == "/" || path == "/favicon.ico" || path == "/viewer" || path.hasPrefix("/viewer/")
    }

    func register(on router: Router<RRStoreRequestContext>) {
        guard state.configuration.viewer.enabled else { return }
        router.get("/") { _, _ in Self.redirect("/viewer/") }
        router.get("/favicon.ico") { _, _ in Self.redirect("/viewer/favicon.svg") }
        // Hummingbird takes "/viewer/" and "/viewer" for one path.
        router.get("/viewer/") { _, _ in page("list", frame: nil) }
        router.get("/viewer/recordings/:id") { request, _ in
            if state.configuration.viewer.frameURL.isEmpty && state.viewerPorts.frame == nil {
                throw APIError.busy("the replay frame's listener is starting; try again in a moment")
            }
            guard let frame = ViewerOrigins.frame(forViewerRequest: request, state: state) else {
                throw APIError.badRequest("invalid_host", "the player needs a Host header naming this service (a host name or IP address, with an optional port), or --public-url / --viewer-frame-url")
            }
            return page("player", frame: frame)
        }
        router.get("/viewer/:file") { _, context in
            let name = context.parameters.get("file") ?? ""
            guard Self.pageFiles.contains(name), let file = Self.files[name] else { throw APIError.notFound("no viewer file '\(name)'") }
            var headers = Self.commonHeaders(file)
            headers[.contentSecurityPolicy] = "default-src 'none'; frame-ancestors 'none'"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: file.bytes)))
        }
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .found, headers: [.location: location, .cacheControl: "no-cache"])
    }

    static func commonHeaders(_ file: File) -> HTTPFields {
        var headers: HTTPFields = [.contentType: file.type, .xContentTypeOptions: "nosniff", .cacheControl: "no-cache"]
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return headers
    }

    /// A page of the viewer: scripts from this origin only, fetches to this origin only (the
    /// API), frames from the replay origin only, and never framed itself.
    private func page(_ name: String, frame: String?) -> Response {
        guard let file = Self.files[name] else { return Response(status: .notFound) }
        var bytes = file.bytes
        if let frame {
            bytes = Array(String(decoding: bytes, as: UTF8.self).replacing(Self.framePlaceholder, with: frame).utf8)
        }
        var headers = Self.commonHeaders(file)
        headers[.contentSecurityPolicy] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
            + "connect-src 'self'; frame-src \(frame ?? "'none'"); frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
