import Foundation
import Hummingbird
import Logging
import RRStoreAuth
import RRStoreClient
import RRStoreCore
import RRStoreStorage
import ServiceLifecycle
import Synchronization
import Testing
@testable import RRStoreServer
import RRStoreTestSupport

/// A JWKS document served on loopback, changeable while it runs (key rotation).
final class JWKSServer: Sendable {
    let document = Mutex<[UInt8]>([])
    let requests = Atomic<Int>(0)

    func publish(_ keys: [(String, OpenSSLKey)]) throws {
        let entries = try keys.map { kid, key -> JSONValue in
            var members = try key.publicJWKMembers().mapValues { JSONValue.string($0) }
            members["kid"] = .string(kid)
            return .object(members)
        }
        document.withLock { $0 = JSONValue.object(["keys": .array(entries)]).serialized() }
    }

    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.get("/.well-known/jwks.json") { _, _ -> Response in
            self.requests.add(1, ordering: .relaxed)
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: self.document.withLock { $0 })))
        }
        let (ports, sink) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "jwks")
        logger.logLevel = .warning
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { sink.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask { try await group.run(); return nil }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next()!
            defer { Task { await group.triggerGracefulShutdown() } }
            let result = try await body("http://127.0.0.1:\(port)/.well-known/jwks.json")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        }
    }
}

@Suite struct AuthTests {
    static let issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TEST"
    static let rsa = try! OpenSSLKey.generate(.rsa)
    static let ec = try! OpenSSLKey.generate(.p256)
    static let rotated = try! OpenSSLKey.generate(.rsa)
    static let urlKey = Array("a URL signing key of 32 bytes ok".utf8)

    static func token(_ sub: String, key: OpenSSLKey = rsa, kid: String = "k1", algorithm: JWTAlgorithm = .rs256,
                      change: (inout [String: JSONValue]) -> Void = { _ in }) throws -> String {
        let now = Double(ServerState.now() / 1000)
        var claims: [String: JSONValue] = ["sub": .string(sub), "iss": .string(issuer), "client_id": .string("app-client"),
                                           "token_use": .string("access"), "exp": .number(now + 600), "iat": .number(now)]
        change(&claims)
        return try JWTVerifier.sign(claims: claims, algorithm: algorithm, keyID: kid, key: key)
    }

    static func jwt(_ jwks: String) -> (inout ServerConfiguration) -> Void {
        { configuration in
            configuration.auth.mode = .jwt
            configuration.auth.jwksURL = jwks
            configuration.auth.issuer = issuer
            configuration.auth.audiences = ["app-client"]
            configuration.auth.tokenUse = "access"
            configuration.auth.jwksMinimumRefetchSeconds = 0
        }
    }

    func client(_ server: RunningServer, _ token: String?) -> RRStoreClient {
        RRStoreClient(baseURL: server.url, token: token, retry: .init(attempts: 1))
    }

    @Test func badTokensAreRefusedWith401() async throws {
        let jwks = JWKSServer()
        try jwks.publish([("k1", Self.rsa), ("k2", Self.ec)])
        let stores = try await SharedStores(.embedded)
        try await jwks.run { url in
            try await withServer(stores, configure: Self.jwt(url)) { server in
                let good = try Self.token("alice")
                #expect(try await client(server, good).send("GET", "/recordings").status == 200)
                #expect(try await client(server, try Self.token("alice", key: Self.ec, kid: "k2", algorithm: .es256)).send("GET", "/recordings").status == 200)

                let anonymous = try await client(server, nil).send("GET", "/recordings")
                #expect(anonymous.status == 401 && errorCode(anonymous) == "missing_token")
                #expect(anonymous.header("www-authenticate")?.hasPrefix("Bearer") == true)
                let header = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
                let payload = good.split(separator: ".")[1]
                let secret = Array(try Self.rsa.publicJWKMembers()["n"]!.utf8)
                let bad: [(String, String)] = [
                    ("forged", try Self.token("alice", key: Self.rotated)),
                    ("unsigned", "\(header).\(payload)."),
                    ("expired", try Self.token("alice") { $0["exp"] = .number(Double(ServerState.now() / 1000 - 3600)) }),
                    ("not yet valid", try Self.token("alice") { $0["nbf"] = .number(Double(ServerState.now() / 1000 + 3600)) }),
                    ("wrong issuer", try Self.token("alice") { $0["iss"] = .string("https://evil.example") }),
                    ("wrong audience", try Self.token("alice") { $0["client_id"] = .string("other-client") }),
                    ("id token", try Self.token("alice") { $0["token_use"] = .string("id") }),
                    ("HS/RS confused", try JWTVerifier.sign(claims: ["sub": .string("alice")], algorithm: .hs256, keyID: "k1", secret: secret)),
                    ("garbage", "not-a-token"),
                ]
                for (name, token) in bad {
                    let response = try await client(server, token).send("GET", "/recordings")
                    #expect(response.status == 401, "\(name)")
                    #expect(response.header("www-authenticate")?.contains("invalid_token") == true, "\(name)")
                    #expect(response.header("content-type") == "application/json", "\(name)")
                }
                // Health checks and metrics need no token; a refused token is counted.
                #expect(try await client(server, nil).send("GET", "/healthz").status == 200)
                let metrics = String(decoding: try await client(server, nil).send("GET", "/metrics").body, as: UTF8.self)
                #expect(metrics.contains(#"rrstore_auth_failures_total{reason="expired"}"#))
            }
        }
    }

    @Test func aRotatedKeyIsFetchedWhenATokenNamesIt() async throws {
        let jwks = JWKSServer()
        try jwks.publish([("k1", Self.rsa)])
        let stores = try await SharedStores(.embedded)
        try await jwks.run { url in
            try await withServer(stores, configure: Self.jwt(url)) { server in
                #expect(try await client(server, try Self.token("alice")).send("GET", "/recordings").status == 200)
                let before = jwks.requests.load(ordering: .relaxed)
                let next = try Self.token("alice", key: Self.rotated, kid: "k9")
                #expect(try await client(server, next).send("GET", "/recordings").status == 401, "not published yet")
                #expect(jwks.requests.load(ordering: .relaxed) > before, "an unknown kid made the server look again")
                try jwks.publish([("k1", Self.rsa), ("k9", Self.rotated)])
                #expect(try await client(server, next).send("GET", "/recordings").status == 200, "published: accepted")
                #expect(try await client(server, try Self.token("alice")).send("GET", "/recordings").status == 200, "the old key still works")
            }
        }
    }

    @Test func tenantsSeeOnlyTheirOwn() async throws {
        let jwks = JWKSServer()
        try jwks.publish([("k1", Self.rsa)])
        let stores = try await SharedStores(.embedded)
        try await jwks.run { url in
            try await withServer(stores, configure: Self.jwt(url)) { server in
                let alice = client(server, try Self.token("alice"))
                let bob = client(server, try Self.token("bob"))
                _ = try await alice.createRecording(id: "shared-name")
                let image = "data:image/png;base64," + Base64.encode([0x89, 0x50, 0x4E, 0x47] + Array(repeating: 7, count: 4000))
                let event = Array(#"{"type":2,"data":{"node":{"attributes":{"src":"\#(image)"}}},"timestamp":1}"#.utf8)
                _ = try await alice.appendRawEvents("shared-name", body: event)
                let aliceEvents = try await alice.readEvents("shared-name")
                #expect(aliceEvents == event + [0x0A])
                let digest = SHA256Digest.hash([0x89, 0x50, 0x4E, 0x47] + Array(repeating: 7, count: 4000))

                // Another tenant: the id is free for it, and everything of alice's is "not found".
                for (method, path) in [("GET", "/recordings/shared-name"), ("DELETE", "/recordings/shared-name"),
                                       ("GET", "/recordings/shared-name/events"), ("GET", "/recordings/shared-name/screenshot"),
                                       ("GET", "/assets/\(digest)"), ("HEAD", "/assets/\(digest)")] {
                    let response = try await bob.send(method, path)
                    #expect(response.status == 404, "\(method) \(path)")
                }
                #expect(try await bob.listRecordings().recordings.isEmpty)
                // Events for an id bob does not have create bob's own recording of that name
                // (create on append), never touching alice's.
                let bobsEvent = Array(#"{"type":4,"data":{"href":"https://bob.example/"},"timestamp":2}"#.utf8)
                let append = try await bob.send("POST", "/recordings/shared-name/events", headers: [("Content-Type", "application/json")], body: .bytes(bobsEvent))
                #expect(append.status == 202)
                #expect(try await bob.readEvents("shared-name") == bobsEvent + [0x0A])
                #expect(try await alice.readEvents("shared-name") == event + [0x0A], "alice's recording is as it was")
                #expect(try await bob.listRecordings().recordings.map(\.id) == ["shared-name"])
                #expect(try await alice.listRecordings().recordings.map(\.id) == ["shared-name"])

                // The have-set does not tell bob what alice stored, nor does an upload's status.
                #expect(try await bob.missingAssets([(digest, 4004)]) == [digest])
                #expect(try await alice.missingAssets([(digest, 4004)]).isEmpty)
                let wrong = try await bob.send("PUT", "/assets/\(digest)", body: .bytes(Array(repeating: 1, count: 4004)))
                #expect(wrong.status == 422)
                #expect(try await bob.missingAssets([(digest, 4004)]) == [digest], "wrong bytes link nothing")
                #expect(try await bob.send("GET", "/assets/\(digest)").status == 404)
                let fresh = SHA256Digest.hash(Array("bob's own".utf8))
                #expect(try await bob.send("PUT", "/assets/\(fresh)", body: .bytes(Array("bob's own".utf8))).status == 201)
                let proven = try await bob.send("PUT", "/assets/\(digest)", body: .bytes([0x89, 0x50, 0x4E, 0x47] + Array(repeating: 7, count: 4000)))
                #expect(proven.status == 201, "stored by alice already, yet answered as for new bytes")
                let bobsCopy = try await bob.send("GET", "/assets/\(digest)")
                #expect(bobsCopy.status == 200, "bob proved he has the bytes")
                #expect(bobsCopy.header("cache-control") == "private, max-age=31536000, immutable", "no shared cache may hand it to another tenant")

                // A tree naming an asset bob does not hold is refused, and links nothing.
                let secretOfAlice = SHA256Digest.hash(Array("alice's secret stylesheet".utf8))
                _ = try await alice.putAsset(secretOfAlice, bytes: Array("alice's secret stylesheet".utf8))
                let tree = Array(#"{"tagName":"style","childNodes":[{"textContent":"rrasset:\#(secretOfAlice)"}]}"#.utf8)
                let treeDigest = SHA256Digest.hash(tree)
                let refused = try await bob.send("PUT", "/assets/\(treeDigest)", body: .bytes(tree))
                #expect(refused.status == 422 && errorCode(refused) == "unknown_assets")
                #expect(try await bob.missingAssets([(treeDigest, tree.count)]) == [treeDigest])
                #expect(try await alice.send("PUT", "/assets/\(treeDigest)", body: .bytes(tree)).status == 201, "alice holds what it names")

                // bob's events may not reference alice's asset either.
                _ = try await bob.createRecording(id: "bobs")
                let sneaky = Array(#"{"type":2,"data":{"text":"rrasset:\#(secretOfAlice)"},"timestamp":1}"#.utf8)
                let posted = try await bob.send("POST", "/recordings/bobs/events", headers: [("Content-Type", "application/json"), ("RRStore-Rewritten", "1")],
                                                body: .bytes(sneaky))
                #expect(posted.status == 422 && errorCode(posted) == "unknown_assets")

                // Deleting is each tenant's own: bob's delete takes his recording of that name only.
                #expect(try await bob.deleteRecording("shared-name"))
                #expect(try await bob.send("DELETE", "/recordings/shared-name").status == 404)
                #expect(try await alice.recording("shared-name")?.eventCount == 1)
                #expect(try await alice.deleteRecording("shared-name"))
            }
        }
    }

    @Test func urlModeLinksAreSignedForBrowsers() async throws {
        let jwks = JWKSServer()
        try jwks.publish([("k1", Self.rsa)])
        let stores = try await SharedStores(.embedded)
        try await jwks.run { url in
            try await withServer(stores, configure: { Self.jwt(url)(&$0); $0.auth.urlSigningKey = Self.urlKey }) { server in
                let alice = client(server, try Self.token("alice"))
                _ = try await alice.createRecording(id: "r")
                let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47] + Array(repeating: UInt8(3), count: 5000)
                let css = "a{background:url(data:image/png;base64,\(Base64.encode(png + [1])))}" + String(repeating: " ", count: 1100)
                let event = Array(#"{"type":2,"data":{"img":"data:image/png;base64,\#(Base64.encode(png))","css":"\#(css)"},"timestamp":1}"#.utf8)
                _ = try await alice.appendRawEvents("r", body: event)
                let text = String(decoding: try await alice.readEvents("r", assets: .url), as: UTF8.self)
                var links: [String] = []
                for quoted in text.split(separator: "\"") {
                    for piece in quoted.split(separator: "(") {
                        let candidate = String(piece.prefix { $0 != ")" })
                        // Absolute links to this server (the player resolves them from any page).
                        if candidate.hasPrefix(server.url + "/assets/sha256:") { links.append(String(candidate.dropFirst(server.url.count))) }
                    }
                }
                #expect(links.count == 2, "\(text)")
                let anonymous = client(server, nil)
                for link in links {
                    #expect(link.contains("?tenant=alice&expires=") && link.contains("&signature="))
                    let response = try await anonymous.send("GET", link)
                    #expect(response.status == 200, "a browser fetches \(link) without a token")
                    #expect(response.header("cache-control")?.hasPrefix("public") == true, "a signed URL is the tenant's alone: cacheable")
                    #expect(SHA256Digest.hash(response.body).description == String(link.dropFirst("/assets/".count).prefix(71)))
                }
                let link = links[0]
                let tampered = String(link.dropLast()) + (link.hasSuffix("0") ? "1" : "0")
                #expect(try await anonymous.send("GET", tampered).status == 401)
                #expect(try await anonymous.send("GET", link.replacingOccurrences(of: "tenant=alice", with: "tenant=bob")).status == 401)
                let expires = Int64(link.split(separator: "expires=")[1].prefix { $0.isNumber })!
                #expect(try await anonymous.send("GET", link.replacingOccurrences(of: "expires=\(expires)", with: "expires=\(expires + 86_400)")).status == 401)
                // Another asset's path with this signature is refused too.
                let other = links[1].split(separator: "?")[0]
                #expect(try await anonymous.send("GET", "\(other)?\(link.split(separator: "?")[1])").status == 401)
                // Signed with the server's key, yet for a tenant without a link: not found.
                let signer = AssetURLSigner(key: Self.urlKey, tenant: "bob", now: ServerState.now() / 1000, window: 60)
                #expect(try await anonymous.send("GET", "\(other)\(signer.query(for: SHA256Digest(parsing: other.dropFirst("/assets/".count))!))").status == 404)
            }
        }
        #expect(AssetURLSigner.verify(key: [1], tenant: "a", expires: 100, signatureHex: AssetURLSigner.signature(key: [1], tenant: "a", expires: 100, digest: SHA256Digest.hash([1])).hexString,
                                      digest: SHA256Digest.hash([1]), now: 99))
        #expect(!AssetURLSigner.verify(key: [1], tenant: "a", expires: 100, signatureHex: AssetURLSigner.signature(key: [1], tenant: "a", expires: 100, digest: SHA256Digest.hash([1])).hexString,
                                       digest: SHA256Digest.hash([1]), now: 100), "expired")
    }

    @Test func staticTokensAndHS256() async throws {
        let stores = try await SharedStores(.embedded)
        let file = stores.directory + "/tokens"
        try Data("acme token-for-acme-0123456789\nglobex \(SHA256Digest.hash(Array("token-for-globex-0123456789".utf8)))\n".utf8)
            .write(to: URL(fileURLWithPath: file))
        try await withServer(stores, configure: { $0.auth.mode = .token; $0.auth.tokensFile = file }) { server in
            let acme = client(server, "token-for-acme-0123456789")
            _ = try await acme.createRecording(id: "r")
            #expect(try await client(server, "token-for-globex-0123456789").send("GET", "/recordings/r").status == 404)
            #expect(try await client(server, "token-for-globex-0123456789").send("GET", "/recordings").status == 200)
            #expect(try await client(server, "sha256:whatever-0123456789").send("GET", "/recordings").status == 401)
            #expect(try await client(server, nil).send("GET", "/recordings").status == 401)
        }
        // A JWKS file instead of a URL.
        let jwksFile = stores.directory + "/jwks.json"
        let entry = try Self.ec.publicJWKMembers().mapValues { JSONValue.string($0) }.merging(["kid": .string("file-1")]) { $1 }
        try Data(JSONValue.object(["keys": .array([.object(entry)])]).serialized()).write(to: URL(fileURLWithPath: jwksFile))
        try await withServer(stores, configure: { $0.auth.mode = .jwt; $0.auth.jwksFile = jwksFile }) { server in
            let now = Double(ServerState.now() / 1000)
            let token = try JWTVerifier.sign(claims: ["sub": .string("filed"), "exp": .number(now + 60)], algorithm: .es256, keyID: "file-1", key: Self.ec)
            #expect(try await client(server, token).send("GET", "/recordings").status == 200)
            #expect(try await client(server, try Self.token("filed")).send("GET", "/recordings").status == 401, "a key not in the file")
        }
        let secret = "an HS256 secret of at least 32 bytes"
        try await withServer(stores, configure: { $0.auth.mode = .jwt; $0.auth.hs256Secret = Array(secret.utf8) }) { server in
            let now = Double(ServerState.now() / 1000)
            let token = try JWTVerifier.sign(claims: ["sub": .string("svc"), "exp": .number(now + 60)], algorithm: .hs256, secret: Array(secret.utf8))
            #expect(try await client(server, token).send("GET", "/recordings").status == 200)
            let rs = try Self.token("svc")
            #expect(try await client(server, rs).send("GET", "/recordings").status == 401, "RS256 is not configured")
        }
    }

    @Test func misconfigurationStopsTheStart() async throws {
        var configuration = AuthConfiguration()
        configuration.mode = .jwt
        #expect(throws: AuthError.self) { try configuration.validate() }
        configuration.jwksURL = "http://idp.example/jwks.json"
        #expect(throws: AuthError.self, "plain http only on loopback") { try configuration.validate() }
        configuration.jwksURL = "https://idp.example/jwks.json"
        try configuration.validate()
        configuration.hs256Secret = Array("short".utf8)
        #expect(throws: AuthError.self) { try configuration.validate() }
        configuration = AuthConfiguration()
        configuration.mode = .token
        #expect(throws: AuthError.self) { try configuration.validate() }
        #expect(Authenticator.tenant(forSubject: "0f6c-uuid") == "0f6c-uuid")
        #expect(Authenticator.tenant(forSubject: "auth0|123").hasPrefix("sub-"))
        #expect(Authenticator.tenant(forSubject: "sub-x") != "sub-x", "no subject can pose as a hashed one")
    }
}
