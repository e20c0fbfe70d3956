import RRStoreCore

/// AWS credentials for signing.
public struct AWSCredentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// From `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    public static func fromEnvironment(_ environment: [String: String]) -> AWSCredentials? {
        guard let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty,
              let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else { return nil }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
    }
}

/// AWS Signature Version 4 for S3, in Swift over OpenSSL's HMAC.
///
/// Written by hand (not `CURLOPT_AWS_SIGV4`): libcurl 7.88 mis-signs paths holding `=`
/// and unsorted queries, and no listed Swift package signs requests without pulling in an
/// HTTP stack of its own.
public struct SigV4Signer: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// A request to sign: `path` is already URI-encoded as it will be sent; `query` items are
    /// unencoded; `headers` must include `host`.
    public struct Request {
        public var method: String
        public var path: String
        public var query: [(String, String)]
        public var headers: [(String, String)]
        public var payloadHash: String

        public init(method: String, path: String, query: [(String, String)] = [], headers: [(String, String)], payloadHash: String) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    /// Returns the headers to add: `x-amz-date`, `x-amz-content-sha256`,
    /// `x-amz-security-token` (with a session token) and `authorization`.
    public func sign(_ request: Request, date: AMZDate) -> [(String, String)] {
        var headers = request.headers
        var added: [(String, String)] = [("x-amz-date", date.timestamp), ("x-amz-content-sha256", request.payloadHash)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        headers += added
        let (canonical, signedHeaders) = canonicalRequest(request, headers: headers)
        let scope = "\(date.day)/\(region)/\(service)/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(date.timestamp)\n\(scope)\n\(SHA256Digest.hash(Array(canonical.utf8)).hex)"
        let signature = HMACSHA256.authenticate(stringToSign, key: signingKey(day: date.day)).hexString
        added.append(("authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope),SignedHeaders=\(signedHeaders),Signature=\(signature)"))
        return added
    }

    func signingKey(day: String) -> [UInt8] {
        let date = HMACSHA256.authenticate(day, key: Array("AWS4\(credentials.secretAccessKey)".utf8))
        let region = HMACSHA256.authenticate(self.region, key: date)
        let service = HMACSHA256.authenticate(self.service, key: region)
        return HMACSHA256.authenticate("aws4_request", key: service)
    }

    func canonicalRequest(_ request: Request, headers: [(String, String)]) -> (String, String) {
        let encoded: [(name: String, value: String)] = request.query.map { (SigV4Signer.encode($0.0), SigV4Signer.encode($0.1)) }
        let sorted = encoded.sorted { (a, b) -> Bool in a.name == b.name ? a.value < b.value : a.name < b.name }
        let query = sorted.map { item -> String in item.name + "=" + item.value }.joined(separator: "&")
        var byName: [String: [String]] = [:]
        for (name, value) in headers {
            byName[name.lowercased(), default: []].append(SigV4Signer.trimHeaderValue(value))
        }
        let names = byName.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(byName[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonical = [request.method, request.path, query, canonicalHeaders, signedHeaders, request.payloadHash].joined(separator: "\n")
        return (canonical, signedHeaders)
    }

    /// RFC 3986 percent-encoding of everything but unreserved characters (and '/' when
    /// `keepSlash`), uppercase hex, as SigV4 wants.
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
            }
        }
        return out
    }

    static func trimHeaderValue(_ value: String) -> String {
        // Trim, and fold runs of spaces into one (outside quotes, which S3 headers lack).
        var out = ""
        var lastWasSpace = false
        for character in value.trimmingSpaces() {
            if character == " " {
                if lastWasSpace { continue }
                lastWasSpace = true
            } else {
                lastWasSpace = false
            }
            out.append(character)
        }
        return out
    }
}


/// A SigV4 timestamp: `20130524T000000Z` and its day `20130524`.
public struct AMZDate: Sendable, Equatable {
    public let timestamp: String
    public var day: String { String(timestamp.prefix(8)) }

    public init(timestamp: String) { self.timestamp = timestamp }

    /// The current UTC time.
    public static func now() -> AMZDate {
        AMZDate(secondsSince1970: Int(WallClock.secondsSince1970()))
    }

    public init(secondsSince1970 t: Int) {
        let c = CivilTime(secondsSince1970: t)
        func two(_ v: Int) -> String { CivilTime.padded(v, 2) }
        timestamp = "\(c.year)\(two(c.month))\(two(c.day))T\(two(c.hour))\(two(c.minute))\(two(c.second))Z"
    }
}
