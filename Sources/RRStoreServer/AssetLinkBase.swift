import HTTPTypes
import Hummingbird
import RRStoreCore

/// Where `assets=url` links point. rrweb-player resolves a relative link against the page
/// that hosts the player, not against this service, so links are always absolute:
/// `--public-url` when set; otherwise the scheme and authority the request came in on —
/// `Host`, or `X-Forwarded-Proto` / `X-Forwarded-Host` when the service is told to trust
/// the proxy in front of it (a client could otherwise point its links anywhere).
enum AssetLinkBase {
    static func resolve(_ request: Request, _ configuration: ServerConfiguration) throws -> String {
        if !configuration.publicBaseURL.isEmpty { return configuration.publicBaseURL }
        var scheme = "http"
        var authority = request.head.authority  // HTTP/1.1's Host
        if configuration.trustForwardedHeaders {
            // A proxy chain appends: the first value is what the browser used.
            if let host = firstValue(request.headers[.xForwardedHost]) { authority = host }
            if let proto = firstValue(request.headers[.xForwardedProto])?.lowercased() {
                guard proto == "http" || proto == "https" else {
                    throw APIError.badRequest("invalid_forwarded_proto", "X-Forwarded-Proto must be http or https, not '\(proto.prefix(20))'")
                }
                scheme = proto
            }
        }
        guard let authority, isAuthority(authority) else {
            throw APIError.badRequest("invalid_host", "assets=url needs a Host header naming this service (a host name or IP address, with an optional port), or the service's --public-url")
        }
        return "\(scheme)://\(authority)"
    }

    private static func firstValue(_ header: String?) -> String? {
        guard let first = header?.split(separator: ",", maxSplits: 1).first else { return nil }
        let value = first.trimmingSpaces()
        return value.isEmpty ? nil : value
    }

    /// A host name, IPv4 address or bracketed IPv6 address, and an optional port: nothing
    /// that could end the URL early or escape the JSON string it is written into.
    static func isAuthority(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...261).contains(bytes.count) else { return false }
        var host = bytes[...], port: ArraySlice<UInt8> = []
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let inside = bytes[1..<close]
            guard !inside.isEmpty, inside.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else { return false }
            host = []
            let rest = bytes[(close + 1)...]
            if !rest.isEmpty {
                guard rest.first == UInt8(ascii: ":") else { return false }
                port = rest.dropFirst()
                guard !port.isEmpty else { return false }
            }
        } else if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
            host = bytes[..<colon]
            port = bytes[(colon + 1)...]
            guard !port.isEmpty else { return false }
        }
        guard port.count <= 5, port.allSatisfy({ (0x30...0x39).contains($0) }) else { return false }
        if bytes.first == UInt8(ascii: "[") { return true }
        return !host.isEmpty && host.count <= 253 && host.allSatisfy {
            (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
    }

    private static func isHexDigit(_ c: UInt8) -> Bool {
        (0x30...0x39).contains(c) || (0x41...0x46).contains(c) || (0x61...0x66).contains(c)
    }
}
