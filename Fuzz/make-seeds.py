#!/usr/bin/env python3
"""Writes the committed seed corpus under Fuzz/corpus/<target>/ (run from anywhere; the
seeds are small, hand-picked shapes of each input, plus a few events of the shared corpus
when it is beside the repository)."""
import base64, gzip, hashlib, hmac, json, os, pathlib, zlib

root = pathlib.Path(__file__).resolve().parent / "corpus"
seeds = {}

def add(target, data):
    seeds.setdefault(target, []).append(data if isinstance(data, bytes) else data.encode())

for h in ["bytes=0-9", "bytes=-5", "bytes=5-", "bytes=0-9223372036854775807", "bytes=-99999999999999999999", "bytes=1-2,3-4",
          "application/json; charset=utf-8", "Content-Type;", ";", "gzip;q=0, br", "image/svg+xml", "text/html", "12345678901234567890"]:
    add("headers", h)
png = b"\x89PNG\r\n\x1a\n" + bytes(range(64)) * 20
d = "sha256:" + hashlib.sha256(b"x").hexdigest()
events = [
    {"type": 4, "data": {"href": "https://example.com/", "width": 1280, "height": 720}, "timestamp": 1},
    {"type": 2, "data": {"node": {"type": 0, "childNodes": [{"type": 2, "tagName": "img", "attributes": {"src": "data:image/png;base64," + base64.b64encode(png).decode()}, "childNodes": []}]}}, "timestamp": 2},
    {"type": 3, "data": {"source": 0, "adds": [{"node": {"type": 3, "textContent": "body{background:url(data:image/png;base64," + base64.b64encode(png).decode() + ")}", "isStyle": True}}]}, "timestamp": 3},
    {"type": 5, "data": {"tag": "rrasset:" + d, "payload": ["rrtree:" + d] * 3}, "timestamp": 4},
]
for e in events:
    raw = json.dumps(e, separators=(",", ":"))
    add("json", raw); add("rewrite", raw)
add("rewrite", '{"a":"\\u00e9\\ud83d\\ude00 \\/ escapes","n":-1.5e+300,"s":"' + "x" * 40 + '"}')
add("json", "[" * 600 + "]" * 600)
add("json", "rrasset:" + d + ";nested data:image/png;base64,rrasset:" + d)
add("framing", json.dumps(events))
add("framing", "\n".join(json.dumps(e) for e in events) + "\n")
add("framing", json.dumps({"events": events}))
add("framing", json.dumps({"sessionId": "r", "rrwebEvent": events[0], "sequence": 7}))
add("framing", '{"sessionId":"other","rrwebEvent":{}}')
add("gzip", gzip.compress(json.dumps(events).encode()))
add("gzip", zlib.compress(b"hello" * 100))
add("gzip", gzip.compress(b"a") + b"trailing")

def token(claims, header={"alg": "HS256", "typ": "JWT"}):
    b = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=")
    signing = b(header) + b"." + b(claims)
    sig = hmac.new(b"a fuzzing secret of at least 32 bytes", signing, hashlib.sha256).digest()
    return signing + b"." + base64.urlsafe_b64encode(sig).rstrip(b"=")
add("jwt", token({"sub": "u", "exp": 2000000000, "iss": "i", "aud": "a"}))
add("jwt", token({"sub": "u", "exp": 1e300, "nbf": -9.3e18}))
add("jwt", token({"sub": "u"}, {"alg": "none"}))
add("jwt", json.dumps({"keys": [{"kty": "RSA", "kid": "k", "n": "AQAB", "e": "AQAB"}, {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}))
add("jwt", "acme token-for-acme-0123456789\nglobex sha256:" + hashlib.sha256(b"t").hexdigest() + "\n")
for r in ["rrasset:" + d, "rrasset:" + d + ";json", "rrasset:" + d + ";nested", "rrasset:" + d + ";data:image/png;base64", "rrtree:" + d, "rrtree:" + d + "x"]:
    add("references", r)
packed = zlib.compress(json.dumps(events[0]).encode() + b',"v":"v1"')
add("packed", json.dumps(packed.decode("latin-1")))
add("packed", json.dumps({"a": [1, 2, {"b": "c"}]}))
for b64 in ["", "QQ==", "QUI=", "QUJD", "QR==", "Q", "////"]:
    add("base64", b64)


def zstd(data):
    import subprocess
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, capture_output=True, check=True).stdout

def pack(blocks):  # [(encoding, [asset bytes])] -> a pack as rrstore lays it out
    body, lines = b"", []
    for encoding, assets in blocks:
        raw = b"".join(assets)
        stored = zstd(raw) if encoding == "zstd" else raw
        offset = 0
        for asset in assets:
            lines.append(f"{hashlib.sha256(asset).hexdigest()} {len(body)} {len(stored)} {encoding} {offset} {len(asset)}\n")
            offset += len(asset)
        body += stored
    trailer = zstd("".join(lines).encode())
    return body + trailer + len(trailer).to_bytes(4, "big") + b"RRP1"
good = pack([("zstd", [b'{"type":2,"tagName":"div"}' * 4, b"body{color:red}" * 8]), ("identity", [png])])
add("pack", good)
add("pack", good[:-9] + b"\xff" + good[-8:])
add("pack", good[:-8] + (2**31).to_bytes(4, "big") + b"RRP1")
add("pack", b"a\x00bb\x00" + png[:64])

def batch(assets):  # [(bytes, media type or None)] -> a POST /assets/batch body
    return b"".join(b"sha256:%s %d %s\n%s\n" % (hashlib.sha256(a).hexdigest().encode(), len(a), (t or "-").encode(), a) for a, t in assets)
add("batch", batch([(b'{"tagName":"div"}', None), (png[:40], "image/png"), (b"", None)]))
add("batch", batch([(b"a\nb", None)])[:-2])
add("batch", b"sha256:" + b"0" * 64 + b" 99999 -\nab\n")

corpus = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
if corpus.is_dir():
    for path in sorted(corpus.rglob("*.json.gz"))[:3]:
        small = [e for e in json.loads(gzip.decompress(path.read_bytes())) if len(json.dumps(e)) < 4000][:3]
        for e in small:
            add("rewrite", json.dumps(e, separators=(",", ":")))
            add("json", json.dumps(e))

for target, items in seeds.items():
    folder = root / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for i, data in enumerate(items):
        (folder / f"seed-{i:02d}").write_bytes(data)
print(", ".join(f"{t}: {len(i)}" for t, i in sorted(seeds.items())))
