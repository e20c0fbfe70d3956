"""Hostile HTTP against a live `rrstore serve` (the debug build) on both store pairs:
files + SQLite, and moto's S3 + PostgreSQL (started by scripts/test-services.sh; under
CI=true their absence fails). Every shape of the hardening findings and more: the process
must live, every refusal must be a JSON error with a 4xx/5xx status, and no byte of one
tenant's must reach another."""
import base64, hashlib, json, os, random, re, socket, subprocess, tempfile, time, uuid
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, ".build", "debug", "rrstore")
ALICE, BOB = "token-of-alice-0123456789", "token-of-bob-0123456789"


def store_pairs():
    pairs = ["embedded"]
    if os.environ.get("RRSTORE_TEST_S3_ENDPOINT") or os.environ.get("CI") == "true":
        pairs.append("s3-postgres")
    return pairs


@pytest.fixture(scope="module", params=store_pairs())
def server(request):
    work = tempfile.mkdtemp(prefix="rrstore-hostile-")
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as f:
        f.write(f"alice {ALICE}\nbob {BOB}\n")
    args = [BINARY, "serve", "--port", "0", "--auth", "token", "--tokens-file", tokens, "--log-level", "notice",
            "--body-timeout", "3", "--idle-timeout", "3", "--max-connections", "200"]
    env = dict(os.environ)
    if request.param == "embedded":
        args += ["--data", os.path.join(work, "store")]
    else:
        endpoint = os.environ["RRSTORE_TEST_S3_ENDPOINT"]
        base = os.environ["RRSTORE_TEST_POSTGRES_URL"]
        bucket = "hostile-" + uuid.uuid4().hex[:12]
        import boto3
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                     region_name="us-east-1").create_bucket(Bucket=bucket)
        database = "hostile_" + uuid.uuid4().hex[:8]
        subprocess.run(["psql", base, "-qc", f"CREATE DATABASE {database}"], check=True)
        env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        args += ["--blob-store", "s3", "--s3-endpoint", endpoint, "--s3-bucket", bucket,
                 "--metadata", "postgres", "--postgres-url", base.rsplit("/", 1)[0] + "/" + database]
    log = open(os.path.join(work, "serve.log"), "w+")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    port = None
    for _ in range(300):
        log.seek(0)
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read())
        if match:
            port = int(match.group(1))
            break
        assert process.poll() is None, "rrstore serve exited"
        time.sleep(0.1)
    assert port, "rrstore serve did not start"
    yield {"port": port, "process": process}
    process.terminate()
    process.wait(timeout=30)


def complete(out, head_only):
    head, sep, body = out.partition(b"\r\n\r\n")
    if not sep:
        return False
    code = status(out)
    if head_only or code in (204, 304) or (code is not None and code < 200):
        return True
    if re.search(rb"(?i)transfer-encoding:\s*chunked", head):
        return body.endswith(b"0\r\n\r\n")
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    return bool(m) and len(body) >= int(m.group(1))


def raw(port, data, timeout=5.0):
    """Sends bytes, returns what comes back until close, timeout, or one whole response."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    head_only = data.startswith(b"HEAD ")
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if complete(out, head_only):
                break
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    return out


def request(port, method, path, headers=(), body=b"", token=ALICE):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{k}: {v}" if v is not None else k for k, v in headers]
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def status(answer):
    m = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    return int(m.group(1)) if m else None


def check_refusal(answer, what):
    code = status(answer)
    assert code is not None, f"{what}: no HTTP answer ({answer[:80]!r})"
    if code >= 400:
        head, _, body = answer.partition(b"\r\n\r\n")
        if body.strip():
            error = json.loads(body)["error"]
            assert error["code"] and error["message"], what
            assert b"/tmp/" not in body and b"/work/" not in body, f"{what}: a server path in the answer"
    return code


def alive(server):
    assert server["process"].poll() is None, "the process died"
    assert status(request(server["port"], "GET", "/healthz", token=None)) == 200


DIGEST = "sha256:" + hashlib.sha256(b"x").hexdigest()
SHAPES = [
    ("POST", "/recordings/x/events", [("Content-Type;", None)], b"[]"),
    ("POST", "/recordings/x/events", [("Content-Type", ";")], b"[]"),
    ("PUT", "/recordings/x/screenshot", [("Content-Type", " ; ")], b"xx"),
    ("GET", f"/assets/{DIGEST}", [("Range", "bytes=0-9223372036854775807")], b""),
    ("HEAD", f"/assets/{DIGEST}", [("Range", "bytes=-99999999999999999999999999")], b""),
    ("GET", f"/assets/{DIGEST}?tenant=alice&expires=99999999999999999999&signature=00", [], b""),
    ("GET", f"/assets/{DIGEST}?tenant=alice&expires=-9223372036854775808&signature=zz", [], b""),
    ("POST", "/recordings/x/events", [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")], b"ZZZ\r\n[]\r\n0\r\n\r\n"),
    ("POST", "/recordings/x/events", [("Content-Type", "application/json"), ("Content-Encoding", "gzip")], b"\x1f\x8b\x08\x00garbage"),
    ("POST", "/recordings/x/events", [("Content-Type", "application/json"), ("Content-Encoding", "br")], b"[]"),
    ("POST", "/recordings/x/events", [("Content-Type", "application/json")], b"[" * 5000 + b"]" * 5000),
    ("POST", "/recordings/x/events", [("Content-Type", "application/json")], b'[{"type":2,"data":"rrtree:' + DIGEST.encode() + b'"}]'),
    ("POST", "/recordings/x/events", [("Content-Type", "application/json"), ("RRStore-Rewritten", "1")], b'[{"type":2,"data":"rrtree:' + DIGEST.encode() + b'"}]'),
    ("POST", "/recordings/x/events", [("Content-Type", "application/json"), ("Idempotency-Key", "../../etc")], b"[]"),
    ("POST", "/recordings/x/events", [("Content-Type", "application/json"), ("Content-Length", "99999999999999999999999")], b""),
    ("POST", "/recordings/x/events", [("Content-Type", "application/json"), ("Content-Length", "-1")], b""),
    ("PUT", f"/assets/{DIGEST}", [("Content-Length", "99999999999999999999999")], b""),
    ("PUT", "/assets/sha256:" + "g" * 64, [], b"x"),
    ("PUT", "/recordings/..%2F..%2Fetc", [], b""),
    ("PUT", "/recordings/" + "a" * 5000, [], b""),
    ("GET", "/recordings?limit=99999999999999999999&cursor=-", [], b""),
    ("GET", "/recordings?cursor=99999999999999999999-x", [], b""),
    ("POST", "/assets/missing", [("Content-Type", "application/json")], b'{"assets":[{"digest":"sha256:x","size":1e400}]}'),
    ("POST", "/assets/missing", [("Content-Type", "application/json")], json.dumps({"assets": [{"digest": DIGEST, "size": 1}] * 5000}).encode()),
    ("POST", "/recordings", [("Content-Type", "application/json")], b'{"screenshot":"data:image/png;base64,' + b"A" * 100 + b'"}'),
    ("DELETE", "/recordings/%00", [], b""),
    ("GET", "/recordings/x/events?assets=%ff", [], b""),
]


def test_every_hostile_shape_gets_an_answer_and_the_process_lives(server):
    port = server["port"]
    assert status(request(port, "PUT", "/recordings/x")) in (200, 201)
    for method, path, headers, body in SHAPES:
        check_refusal(request(port, method, path, headers, body), f"{method} {path} {headers}")
        alive(server)
    # Garbage that is not HTTP, and bad tokens of every kind.
    for junk in [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"\x00\xff" * 100 + b"\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n"]:
        raw(port, junk)
        alive(server)
    for token in ["", "x", "a.b.c", "e30.e30.", base64.b64encode(b'{"alg":"none"}').decode() + ".e30.", "Bearer " * 50]:
        answer = request(port, "GET", "/recordings", token=token or None)
        assert check_refusal(answer, f"token {token[:20]}") == 401
    alive(server)


def test_random_headers_never_crash(server):
    port = server["port"]
    rng = random.Random(20261201)
    names = ["Content-Type", "Content-Encoding", "Range", "Idempotency-Key", "RRStore-Rewritten", "Accept-Encoding",
             "If-None-Match", "Origin", "Authorization", "Content-Length"]
    alphabet = "abcdefghij0123456789;=,-*/ \t\"'\\:" + "".join(chr(c) for c in range(0x80, 0x90))
    for i in range(300):
        method, path = rng.choice([("POST", "/recordings/x/events"), ("GET", f"/assets/{DIGEST}"), ("PUT", f"/assets/{DIGEST}"),
                                   ("GET", "/recordings/x/events"), ("POST", "/assets/missing")])
        headers = [(rng.choice(names), "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))) for _ in range(rng.randint(1, 4))]
        headers = [(k, v) for k, v in headers if k != "Authorization"] if i % 2 else headers
        body = bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 64)))
        check_refusal(request(port, method, path, headers, body), f"{method} {path} {headers}")
    alive(server)


def test_no_byte_of_one_tenant_reaches_another(server):
    port = server["port"]
    secret = b"\x89PNG\r\n\x1a\n" + b"alice-secret-" * 300
    x = "sha256:" + hashlib.sha256(secret).hexdigest()
    event = json.dumps({"type": 2, "data": {"src": "data:image/png;base64," + base64.b64encode(secret).decode()}, "timestamp": 1}).encode()
    assert status(request(port, "PUT", "/recordings/alice-rec")) in (200, 201)
    assert status(request(port, "POST", "/recordings/alice-rec/events", [("Content-Type", "application/json")], event)) == 202
    assert status(request(port, "PUT", "/recordings/bob-rec", token=BOB)) in (200, 201)
    css = f"url(data:image/png;base64,rrasset:{x}) " + "q" * 1100
    tricks = [
        ([("Content-Type", "application/json")], json.dumps({"type": 3, "data": {"css": css}}).encode()),
    ]
    t = "sha256:" + hashlib.sha256(css.encode()).hexdigest()
    for reference in [f"rrasset:{t};nested", f"rrtree:{t}", f"rrasset:{x};data:image/png;base64", f"rrasset:{x}", f"rrtree:{x}", f"rrasset:{x};json"]:
        tricks.append(([("Content-Type", "application/json"), ("RRStore-Rewritten", "1")], json.dumps({"type": 2, "data": reference}).encode()))
    tree = json.dumps(["rrtree:" + x, "rrasset:" + x]).encode()
    tree_digest = "sha256:" + hashlib.sha256(tree).hexdigest()
    assert check_refusal(request(port, "PUT", f"/assets/{tree_digest}", body=tree, token=BOB), "tree naming alice's") == 422
    for headers, body in tricks:
        check_refusal(request(port, "POST", "/recordings/bob-rec/events", headers, body, token=BOB), "bob's trick")
    leaked = [b"alice-secret", base64.b64encode(secret)[:60]]
    for path in ["/recordings/bob-rec/events", "/recordings/bob-rec/events?assets=url", f"/assets/{x}", f"/assets/{tree_digest}",
                 "/recordings/alice-rec/events", "/recordings/alice-rec", "/recordings"]:
        answer = request(port, "GET", path, token=BOB)
        assert not any(s in answer for s in leaked), f"{path} leaked alice's bytes"
    missing = request(port, "POST", "/assets/missing", [("Content-Type", "application/json")],
                      json.dumps({"assets": [{"digest": x, "size": len(secret)}]}).encode(), token=BOB)
    assert x.encode() in missing, "the have-set tells bob nothing"
    alive(server)


def test_slow_and_idle_clients_hold_nothing(server):
    port = server["port"]
    holders = []
    for _ in range(8):  # more than the ingest slots
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"POST /recordings/x/events HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {ALICE}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[".encode())
        holders.append(s)
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
    answer = request(port, "POST", "/recordings/x/events", [("Content-Type", "application/json")], b'[{"type":4,"data":{},"timestamp":9}]')
    assert status(answer) == 202, answer[:200]
    time.sleep(4)  # past the body and idle deadlines (3 s)
    for s in holders + idle:
        s.settimeout(2)
        try:
            while s.recv(65536):
                pass
        except (socket.timeout, ConnectionResetError):
            pytest.fail("a connection outlived its deadline")
        s.close()
    alive(server)
