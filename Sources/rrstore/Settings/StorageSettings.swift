import ArgumentParser
import RRStoreAuth
import RRStoreCore
import RRStoreServer
import RRStoreStorage

/// Where data lives: the embedded default (files + SQLite) or S3 + PostgreSQL.
enum StorageSettings {
    static var table: SettingsTable<StorageConfiguration> { SettingsTable(title: "storage", defaults: StorageConfiguration(), settings: [
        .text("data", \.dataDirectory, "DIR", example: "/tmp/rrstore-settings-example",
              "embedded default: blobs under `DIR/blobs`, SQLite at `DIR/metadata.sqlite`"),
        .choice("blob-store", \.blobBackend, example: .s3, "where assets, screenshots and event chunks go"),
        Setting("stage", "NAME", example: "pr-123",
                "this deployment's release stage (`a-z 0-9 -`): its own S3 prefix (`<prefix>stages/NAME/`), PostgreSQL schema (`rrstore_stage_NAME`) or `DIR/stages/NAME`; unset: the default stage",
                show: { $0.stage?.name }) { root, values, origin in
            let text = values.last ?? ""
            do { root.stage = text.isEmpty ? nil : try Stage(text) } catch let error as RRStoreError {
                throw ValidationError("\(origin): \(error.message)")
            }
        },
        Setting("s3-endpoint", "URL", example: "http://127.0.0.1:9000", "AWS or any S3-compatible server (default `https://s3.<region>.amazonaws.com`)",
                show: { $0.s3Endpoint }) { root, values, _ in root.s3Endpoint = values.last },
        .optionalText("s3-bucket", \.s3Bucket, "NAME", example: "recordings", "required with `s3`; must exist"),
        .text("s3-region", \.s3Region, "REGION", example: "eu-west-1", "signing region"),
        .text("s3-prefix", \.s3Prefix, "PREFIX", example: "staging/", "key prefix, so deployments can share a bucket"),
        Setting("s3-addressing", "path|virtual", example: "virtual", "`endpoint/bucket/key` or `bucket.endpoint/key`",
                show: { $0.s3PathStyle ? "path" : "virtual" }) { root, values, origin in
            let text = values.last ?? ""
            guard text == "path" || text == "virtual" else { throw ValidationError("\(origin) must be path or virtual, not '\(text)'") }
            root.s3PathStyle = text == "path"
        },
        .choice("metadata", \.metadataBackend, example: .postgres, "where recordings, the asset index and the ingest buffer live"),
        .optionalText("postgres-url", \.postgresURL, "URL", example: "postgres://rrstore@127.0.0.1:5432/rrstore", secret: true,
                      "`postgres://user:password@host:port/database` (TLS off: loopback or a private network)"),
        .seconds("postgres-timeout", get: { Double($0.postgresTimeout.components.seconds) + Double($0.postgresTimeout.components.attoseconds) / 1e18 },
                 set: { $0.postgresTimeout = .milliseconds(Int64($1 * 1000)) }, example: 5,
                 "seconds an operation may wait for PostgreSQL; an unreachable server stops the start with a message, and requests answer 503 instead of hanging"),
    ]) }
}

/// Who may call the service, and as which tenant.
enum AuthSettings {
    static var table: SettingsTable<AuthConfiguration> { SettingsTable(title: "auth", defaults: AuthConfiguration(), settings: [
        .choice("auth", \.mode, example: .token, "`none`: one local tenant, for local use only; `jwt` or `token`: see below"),
        .optionalText("jwks-url", \.jwksURL, "URL", example: "https://idp.example/.well-known/jwks.json",
                      "JWT signing keys; `https://` (plain `http://` only to loopback); fetched at start, cached for an hour, fetched again when a token names an unknown `kid` (at most every 10 s)"),
        .optionalText("jwks-file", \.jwksFile, "FILE", example: "/etc/rrstore/jwks.json", "the same from a file"),
        Setting("jwt-hs256-secret", "S", example: "an-example-secret-of-at-least-32-bytes", secret: true,
                "HS256 shared secret (at least 32 bytes; prefer the variable)",
                show: { $0.hs256Secret.map { String(decoding: $0, as: UTF8.self) } }) { root, values, _ in root.hs256Secret = values.last.map { Array($0.utf8) } },
        Setting("jwt-algorithms", "A,B", example: "ES256",
                "accepted algorithms; default RS256,ES256 with a JWKS, HS256 with a secret. The token never chooses: `alg: none` is refused, an RSA or EC key never verifies HS256, and HS256 only ever uses the configured secret",
                show: { $0.algorithms.map { $0.map(\.rawValue).sorted().joined(separator: ",") } }) { root, values, origin in
            root.algorithms = Set(try (values.last ?? "").split(separator: ",").map { name in
                let trimmed = name.trimmingCharacters(in: .whitespaces).uppercased()
                guard let algorithm = JWTAlgorithm(rawValue: trimmed) else {
                    throw ValidationError("\(origin): '\(trimmed)' is not one of RS256, ES256, HS256")
                }
                return algorithm
            })
        },
        .optionalText("jwt-issuer", \.issuer, "ISS", example: "https://idp.example", "required `iss`"),
        Setting("jwt-audience", "A", example: "rrstore-web", repeatable: true, "accepted `aud`, or Cognito's `client_id` in access tokens",
                show: { $0.audiences.sorted().joined(separator: ",") }) { root, values, _ in root.audiences = Set(values.filter { !$0.isEmpty }) },
        .optionalText("jwt-token-use", \.tokenUse, "id|access", example: "access", "required `token_use` (Cognito)"),
        .integer("jwt-leeway", get: { Int($0.leewaySeconds) }, set: { $0.leewaySeconds = Int64($1) }, "S", in: 0...86_400, example: 5,
                 "clock skew allowed for `exp` and `nbf`, in seconds; `exp` is required"),
        .optionalText("tokens-file", \.tokensFile, "FILE", example: "/etc/rrstore/tokens", "static tokens (`--auth token`): lines of `tenant token` or `tenant sha256:<hex>`"),
        Setting("url-signing-secret", "S", example: "another-example-secret-of-32-bytes!", secret: true,
                "key (at least 32 bytes) that signs asset URLs in `assets=url` reads; give every instance the same one (default: random per process, so URLs only work on the instance that made them)",
                show: { $0.urlSigningKey.map { String(decoding: $0, as: UTF8.self) } }) { root, values, _ in root.urlSigningKey = values.last.map { Array($0.utf8) } },
    ]) }
}
